/**
 * The services the S3 and Redis tests use, started once per run by ./global.ts (vitest's globalSetup)
 * and handed to the test files with `provide('services', …)` (read them with test/helpers/services.ts):
 *
 * - S3: a throwaway single-node Ceph cluster with radosgw (test/setup/ceph/ceph-up.sh), in a fresh
 *   folder under os.tmpdir() and on free 127.0.0.1 ports, with keys made up for this run;
 * - Redis: Debian's redis-server as a child process on a free 127.0.0.1 port, no persistence.
 *
 * Both start in parallel and are stopped on teardown. A developer who keeps services running can
 * point the run at them instead, and then nothing is started or stopped:
 *   BERTH_TEST_S3_ENDPOINT, BERTH_TEST_S3_ACCESS_KEY, BERTH_TEST_S3_SECRET_KEY (all three;
 *   BERTH_TEST_S3_REGION optional, default us-east-1) and BERTH_TEST_REDIS_URL.
 * A service that does not come up fails the whole run with its log tails: tests never skip.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';
import { freePorts, isAlive, type RedisServer, startRedis, sweepOrphanedRedis } from '../helpers/redis-server.js';

export interface S3Service {
  /** http://127.0.0.1:PORT: path-style addressing (forcePathStyle: true) */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
}

export interface TestServices {
  s3: S3Service;
  /** redis://127.0.0.1:PORT */
  redisUrl: string;
}

declare module 'vitest' {
  interface ProvidedContext {
    services: TestServices;
  }
}

const CEPH_UP = fileURLToPath(new URL('ceph/ceph-up.sh', import.meta.url));
const CEPH_DOWN = fileURLToPath(new URL('ceph/ceph-down.sh', import.meta.url));
/** Folders of this setup's clusters are named so; each holds `owner`, the PID of the vitest that made it. */
const CEPH_DIR_PREFIX = 'berth-ceph-';
/** ceph-up.sh takes ~5 s; its own waits give up well before this. */
const CEPH_UP_TIMEOUT_MS = 240_000;
const S3_ENV = ['BERTH_TEST_S3_ENDPOINT', 'BERTH_TEST_S3_ACCESS_KEY', 'BERTH_TEST_S3_SECRET_KEY'] as const;

interface Started<T> {
  value: T;
  /** How it was obtained, for the one line this setup prints. */
  note: string;
  stop(): Promise<void>;
  /** Synchronous last resort from a process 'exit' handler (the run ended without teardown). */
  stopNow(): void;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const tail = (text: string, lines: number): string => text.trimEnd().split('\n').slice(-lines).join('\n');

/** Runs `bash script` with `env`, collecting its output; never rejects. */
function runBash(script: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    // stdin is /dev/null: the daemons the script leaves running must not hold a pipe of ours open.
    const child = spawn('bash', [script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr: `${stderr}\n${error.message}`, timedOut });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

async function cephDown(dir: string): Promise<void> {
  const result = await runBash(CEPH_DOWN, { ...process.env, CEPH_DIR: dir }, 30_000);
  if (result.code !== 0) console.error(`services: ceph-down.sh for ${dir} failed:\n${tail(result.stderr, 20)}`);
}

/**
 * Stops the clusters of earlier runs that ended without their teardown (vitest killed): their
 * folder's owner is dead. Clusters of other live runs, and any folder not made here (a developer's
 * CEPH_DIR has no `owner` file), are left alone.
 */
async function sweepStaleClusters(): Promise<void> {
  const entries = await readdir(tmpdir()).catch(() => [] as string[]);
  for (const name of entries.filter((entry) => entry.startsWith(CEPH_DIR_PREFIX))) {
    const dir = path.join(tmpdir(), name);
    const owner = Number.parseInt(await readFile(path.join(dir, 'owner'), 'utf8').catch(() => ''), 10);
    if (!Number.isInteger(owner) || owner <= 0 || isAlive(owner)) continue;
    console.log(`services: stopping the Ceph cluster left by an earlier run (${dir})`);
    await cephDown(dir);
  }
}

/** Starts a fresh Ceph cluster; retries once on fresh ports if a probed port was taken meanwhile. */
async function startCeph(): Promise<Started<S3Service>> {
  await sweepStaleClusters();
  for (let attempt = 1; ; attempt += 1) {
    const dir = await mkdtemp(path.join(tmpdir(), CEPH_DIR_PREFIX));
    await writeFile(path.join(dir, 'owner'), `${process.pid}\n`);
    const [s3Port, monPort, monV1Port] = (await freePorts(3)).map(String);
    const env = {
      ...process.env,
      CEPH_DIR: dir,
      CEPH_NO_MGR: '1',
      S3_PORT: s3Port,
      CEPH_MON_PORT: monPort,
      CEPH_MON_V1_PORT: monV1Port,
      // Keys made up for this run: tests must take them from inject('services'), not hard-code them.
      S3_ACCESS_KEY: `BT${randomBytes(9).toString('hex').toUpperCase()}`,
      S3_SECRET_KEY: randomBytes(20).toString('hex'),
    };
    const result = await runBash(CEPH_UP, env, CEPH_UP_TIMEOUT_MS);
    const printed = Object.fromEntries([...result.stdout.matchAll(/^(S3_ENDPOINT|S3_ACCESS_KEY|S3_SECRET_KEY)=(.*)$/gm)].map(([, key, value]) => [key!, value!]));
    const { S3_ENDPOINT: endpoint, S3_ACCESS_KEY: accessKey, S3_SECRET_KEY: secretKey } = printed;
    if (result.code === 0 && endpoint && accessKey && secretKey) {
      return {
        value: { endpoint, accessKey, secretKey, region: 'us-east-1' },
        note: `Ceph RGW at ${endpoint} (CEPH_DIR=${dir})`,
        stop: () => cephDown(dir),
        stopNow: () => void spawnSync('bash', [CEPH_DOWN], { env: { ...process.env, CEPH_DIR: dir }, stdio: 'ignore', timeout: 30_000 }),
      };
    }
    await cephDown(dir);
    const portTaken = /already in use|address in use|failed to bind/i.test(result.stderr);
    if (portTaken && attempt < 2) {
      console.error(`services: Ceph could not bind a probed port; retrying on new ports:\n${tail(result.stderr, 5)}`);
      continue;
    }
    const how = result.timedOut ? `timed out after ${seconds(CEPH_UP_TIMEOUT_MS)}` : `exit ${result.signal ?? String(result.code)}`;
    throw new Error(
      `Ceph S3 did not start (bash ${path.relative(process.cwd(), CEPH_UP)}: ${how}):\n` + `${tail(result.stderr, 150)}${result.code === 0 ? `\nstdout:\n${tail(result.stdout, 10)}` : ''}`,
    );
  }
}

/** S3 from BERTH_TEST_S3_*, checked to answer HTTP at all. */
async function externalS3(): Promise<Started<S3Service>> {
  const missing = S3_ENV.filter((name) => !process.env[name]);
  if (missing.length > 0) throw new Error(`set all of ${S3_ENV.join(', ')} to use your own S3 (missing ${missing.join(', ')})`);
  const value: S3Service = {
    endpoint: process.env.BERTH_TEST_S3_ENDPOINT!.replace(/\/+$/, ''),
    accessKey: process.env.BERTH_TEST_S3_ACCESS_KEY!,
    secretKey: process.env.BERTH_TEST_S3_SECRET_KEY!,
    region: process.env.BERTH_TEST_S3_REGION || 'us-east-1',
  };
  try {
    await fetch(`${value.endpoint}/`, { signal: AbortSignal.timeout(5000) }).then((response) => response.arrayBuffer());
  } catch (error) {
    // fetch() rejects with "fetch failed"; the reason (ECONNREFUSED…) is its cause.
    const reason = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    throw new Error(`BERTH_TEST_S3_ENDPOINT=${value.endpoint} does not answer: ${reason instanceof Error ? reason.message : String(reason)}`, {
      cause: error,
    });
  }
  return { value, note: `S3 at ${value.endpoint} (BERTH_TEST_S3_ENDPOINT)`, stop: async () => {}, stopNow: () => {} };
}

async function localRedis(): Promise<Started<string>> {
  let server: RedisServer;
  try {
    await sweepOrphanedRedis();
    server = await startRedis();
  } catch (error) {
    throw new Error(`Redis did not start: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return { value: server.url, note: `redis-server at ${server.url}`, stop: () => server.stop(), stopNow: () => void server.kill() };
}

/** Redis from BERTH_TEST_REDIS_URL, checked to answer PING. */
async function externalRedis(url: string): Promise<Started<string>> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5000 });
  // The socket's own error (ECONNREFUSED…) says more than the "Connection is closed." that connect() rejects with.
  let socketError: Error | undefined;
  client.on('error', (error: Error) => (socketError ??= error));
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    const reason = socketError ?? error;
    throw new Error(`BERTH_TEST_REDIS_URL=${url} does not answer PING: ${reason instanceof Error ? reason.message : String(reason)}`, { cause: error });
  } finally {
    client.disconnect();
  }
  return { value: url, note: `Redis at ${url} (BERTH_TEST_REDIS_URL)`, stop: async () => {}, stopNow: () => {} };
}

/** Runs `start`, timing it. */
async function timed<T>(start: () => Promise<Started<T>>): Promise<Started<T> & { ms: number }> {
  const t0 = performance.now();
  const started = await start();
  return { ...started, ms: performance.now() - t0 };
}

export default async function startServices(project: TestProject): Promise<() => Promise<void>> {
  const t0 = performance.now();
  const useOwnS3 = S3_ENV.some((name) => process.env[name]);
  const ownRedis = process.env.BERTH_TEST_REDIS_URL;
  const [s3, redis] = await Promise.allSettled([timed(useOwnS3 ? externalS3 : startCeph), timed(ownRedis ? () => externalRedis(ownRedis) : localRedis)]);
  if (s3.status === 'rejected' || redis.status === 'rejected') {
    // Stop whichever did start: setup failed, so vitest will not call a teardown.
    await Promise.all([s3, redis].map(async (result) => (result.status === 'fulfilled' ? result.value.stop() : undefined)));
    const reasons = [s3, redis].flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
    const message = reasons.map((reason) => (reason instanceof Error ? reason.message : String(reason))).join('\n\n');
    // No `cause`: vitest would print the same log tails a second time.
    throw new Error(`services: the test services did not start, so no test can run:\n${message}`);
  }
  const started = [s3.value, redis.value];
  project.provide('services', { s3: s3.value.value, redisUrl: redis.value.value });
  console.log(`services: ${started.map((service) => `${service.note} in ${seconds(service.ms)}`).join('; ')}; ` + `global setup took ${seconds(performance.now() - t0)}`);

  // Should the run end without the teardown (an uncaught error, process.exit), stop them anyway.
  const stopNow = (): void => started.forEach((service) => service.stopNow());
  process.once('exit', stopNow);

  return async function teardown(): Promise<void> {
    process.removeListener('exit', stopNow);
    const t1 = performance.now();
    await Promise.all(started.map((service) => service.stop()));
    console.log(`services: stopped in ${seconds(performance.now() - t1)}`);
  };
}
