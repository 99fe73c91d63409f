/**
 * Starts a real Berth server for a test: the app from buildApp on 127.0.0.1 at an ephemeral port,
 * over its own temporary storage root (never ./storage). With `backend: 's3'` (or the environment
 * variable BERTH_TEST_STORAGE=s3, which the `s3` vitest project sets to run the HTTP suites again)
 * blobs and manifests go to a fresh bucket of the test Ceph cluster, and locks and sessions to the
 * test Redis under a key prefix of the server's own.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createBucket, emptyAndDeleteBucket, redisUrl, s3Service } from './services.js';

export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `127.0.0.1:<port>`, as image references want it */
  host: string;
  /** The local storage root (with an S3 backend it keeps only what a replica keeps locally) */
  root: string;
  /** The bucket holding blobs and manifests, with an S3 backend. */
  bucket?: string;
  /** The zot.json the server loaded; rewrite it to test reloads. */
  configFile: string;
  /** Everything logged so far, when started with `captureLog`. */
  logText(): string;
  app: FastifyInstance;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Extra zot.json content merged over the minimal config (storage.rootDirectory is set for you). */
  config?: Record<string, unknown>;
  /** Reuse a storage root (for restart tests); it is then not removed on close. */
  root?: string;
  /** Pass true to see the server's log on stdout. */
  log?: boolean;
  /** Keep every log line (debug level) for assertions: `server.logText()`. */
  captureLog?: boolean;
  /** What TRUST_PROXY would give `berth serve`. */
  trustProxy?: boolean | string[];
  /** Shorter body deadlines than production's, for the tests of slow bodies. */
  bodyTime?: { deadlineMs: number; idleMs: number };
  /** Where blobs and manifests go; default from BERTH_TEST_STORAGE, else the filesystem. */
  backend?: 'fs' | 's3';
}

export type TestBackend = 'fs' | 's3';

export function testBackend(): TestBackend {
  return process.env.BERTH_TEST_STORAGE === 's3' ? 's3' : 'fs';
}

/** zot.json storage keys for a fresh bucket and a fresh Redis key prefix. */
export async function remoteStorageConfig(): Promise<{ bucket: string; storage: Record<string, unknown> }> {
  const s3 = s3Service();
  const bucket = await createBucket('berth-test');
  return {
    bucket,
    storage: {
      storageDriver: { name: 's3', bucket, region: s3.region, regionendpoint: s3.endpoint, forcepathstyle: true, accesskey: s3.accessKey, secretkey: s3.secretKey },
      cacheDriver: { name: 'redis', url: redisUrl(), keyprefix: bucket },
    },
  };
}

/** A restart test passes the same root twice: the second server must find the same bucket and Redis prefix. */
const remoteByRoot = new Map<string, Promise<{ bucket: string; storage: Record<string, unknown> }>>();

function remoteStorageFor(root: string | undefined): Promise<{ bucket: string; storage: Record<string, unknown> }> {
  if (root === undefined) return remoteStorageConfig();
  let remote = remoteByRoot.get(root);
  if (!remote) {
    remote = remoteStorageConfig();
    remoteByRoot.set(root, remote);
  }
  return remote;
}

export async function startBerth(options: StartOptions = {}): Promise<TestServer> {
  const root = options.root ?? (await mkdtemp(path.join(tmpdir(), 'berth-test-')));
  const extra = options.config ?? {};
  const remote = (options.backend ?? testBackend()) === 's3' ? await remoteStorageFor(options.root) : undefined;
  const document = {
    ...extra,
    storage: { ...remote?.storage, ...((extra.storage as object | undefined) ?? {}), rootDirectory: root },
    http: { address: '127.0.0.1', port: 0, ...((extra.http as object | undefined) ?? {}) },
    log: { level: 'warn', ...((extra.log as object | undefined) ?? {}) },
  };
  const configDir = await mkdtemp(path.join(tmpdir(), 'berth-config-'));
  const configFile = path.join(configDir, 'zot.json');
  await writeFile(configFile, JSON.stringify(document, null, 2));
  const config = await loadConfig(configFile);
  const logged: string[] = [];
  const capture = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = options.captureLog ? { level: 'debug', stream: capture } : options.log ? { level: 'debug', stream: process.stdout } : false;
  const app = await buildApp(config, { logger, ...(options.trustProxy !== undefined ? { trustProxy: options.trustProxy } : {}), ...(options.bodyTime ? { bodyTime: options.bodyTime } : {}) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('server has no address');
  const host = `127.0.0.1:${address.port}`;
  return {
    url: `${config.http.tls ? 'https' : 'http'}://${host}`,
    host,
    root,
    ...(remote ? { bucket: remote.bucket } : {}),
    configFile,
    logText: () => logged.join(''),
    app,
    async close() {
      // Tests end abruptly: do not wait for clients' keep-alive sockets to time out.
      const closing = app.close();
      app.server.closeAllConnections();
      await closing;
      await rm(configDir, { recursive: true, force: true });
      if (!options.root) await rm(root, { recursive: true, force: true });
      if (remote && !options.root) await emptyAndDeleteBucket(remote.bucket);
    },
  };
}

/** Waits until the server has discovered its OpenID provider `key` (discovery runs in the background at start). */
export async function waitForDiscovery(server: Pick<TestServer, 'url'>, key = 'oidc'): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    const methods = (await (await fetch(`${server.url}/v2/_zot/ext/mgmt`)).json()) as { http: { auth: { openid?: { providers: Record<string, { unavailable?: string }> } } } };
    const provider = methods.http.auth.openid?.providers[key];
    if (provider && !provider.unavailable) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the provider "${key}" was never discovered`);
}
