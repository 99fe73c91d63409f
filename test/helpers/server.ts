/**
 * Starts a real Berth server for a test: the app from buildApp on 127.0.0.1 at an ephemeral port,
 * over its own temporary storage root (never ./storage).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load-config.js';

export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `127.0.0.1:<port>`, as image references want it */
  host: string;
  /** The storage root */
  root: string;
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
}

export async function startBerth(options: StartOptions = {}): Promise<TestServer> {
  const root = options.root ?? (await mkdtemp(path.join(tmpdir(), 'berth-test-')));
  const extra = options.config ?? {};
  const document = {
    ...extra,
    storage: { ...((extra.storage as object | undefined) ?? {}), rootDirectory: root },
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
  const app = await buildApp(config, { logger, ...(options.trustProxy !== undefined ? { trustProxy: options.trustProxy } : {}) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('server has no address');
  const host = `127.0.0.1:${address.port}`;
  return {
    url: `${config.http.tls ? 'https' : 'http'}://${host}`,
    host,
    root,
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
    },
  };
}

/** Waits until the server has discovered its OpenID provider `key` (discovery runs in the background at start). */
export async function waitForDiscovery(server: TestServer, key = 'oidc'): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    const methods = (await (await fetch(`${server.url}/v2/_zot/ext/mgmt`)).json()) as { http: { auth: { openid?: { providers: Record<string, { unavailable?: string }> } } } };
    const provider = methods.http.auth.openid?.providers[key];
    if (provider && !provider.unavailable) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the provider "${key}" was never discovered`);
}
