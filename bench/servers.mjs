/**
 * Starts the registries under test as child processes on 127.0.0.1, each with its own temporary
 * config and storage root, and stops them again. Also reads their memory from /proc.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { request } from 'undici';

export const PEER_BINARY = '/usr/bin/docker-registry';
const BERTH_MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
/** The node flags `npm start` (and the image) run Berth with: the bench measures Berth as deployed. */
export const BERTH_NODE_FLAGS = (() => {
  const start = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).scripts.start;
  return /^node ((?:--\S+ )*)dist\/main\.js /.exec(start)?.[1]?.trim().split(' ').filter(Boolean) ?? [];
})();
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 12_000;
const LOG_TAIL_BYTES = 8 * 1024;
/** How long a started server rests before its idle RSS is read. */
const IDLE_SETTLE_MS = 2_000;
/** The highest VmHWM each process had before `resetPeak` cleared it, by pid. */
const peaksBeforeReset = new Map();
/** USER_HZ: /proc reports CPU time in these ticks; 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;

/** Every server started and not yet stopped, so a crash or Ctrl-C can still kill them. */
const running = new Set();

/** An ephemeral TCP port that is free on 127.0.0.1 right now. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** `storage`: extra zot.json storage keys (the S3 phase's storageDriver and cacheDriver). */
/** `extend(config, root)`: a phase's own keys (the catalog phase's UI, users and accessControl). */
function berthConfig(root, port, storage = {}, extend = (config) => config) {
  const config = {
    storage: { rootDirectory: path.join(root, 'storage'), ...storage },
    http: { address: '127.0.0.1', port: String(port) },
    log: { level: 'warn' },
  };
  return JSON.stringify(extend(config, root), null, 2);
}

/**
 * The reference registry as Debian configures it (/etc/docker/registry/config.yml: in-memory blob
 * descriptor cache, deletes enabled), minus auth, with the access log off: Berth does not log
 * requests at level warn, so neither should the peer.
 */
function peerConfig(root, port) {
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(root, 'storage')}`,
    '  cache:',
    '    blobdescriptor: inmemory',
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n');
}

/**
 * @param {'berth'|'peer'} kind
 * @param {{ nodeArgs?: string[], main?: string, storage?: object, extend?: (config: object, root: string) => object, env?: object, name?: string }} [options]
 *   extra node flags for Berth (e.g. --cpu-prof), another build's main.js to run instead of
 *   dist/main.js, extra zot.json storage keys, a phase's own keys, extra environment variables, and a display name
 */
export async function startServer(kind, options = {}) {
  const root = mkdtempSync(path.join(tmpdir(), `bench-${kind}-`));
  const port = await freePort();
  let command;
  let args;
  if (kind === 'berth') {
    const file = path.join(root, 'zot.json');
    writeFileSync(file, berthConfig(root, port, options.storage, options.extend));
    command = process.execPath;
    args = [...BERTH_NODE_FLAGS, ...(options.nodeArgs ?? []), options.main ?? BERTH_MAIN, 'serve', file];
  } else {
    const file = path.join(root, 'config.yml');
    writeFileSync(file, peerConfig(root, port));
    command = PEER_BINARY;
    args = ['serve', file];
  }
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  let log = '';
  const keep = (chunk) => {
    log = (log + chunk.toString()).slice(-LOG_TAIL_BYTES);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const server = {
    kind,
    name: options.name ?? (kind === 'berth' ? 'Berth' : 'docker-registry'),
    root,
    port,
    base: `http://127.0.0.1:${port}`,
    pid: child.pid,
    child,
    exited,
    log: () => log,
    stopped: false,
  };
  running.add(server);
  try {
    await waitReady(server);
  } catch (error) {
    await stopServer(server);
    throw error;
  }
  // A fresh server at rest: what it holds before any image reaches it.
  await sleep(IDLE_SETTLE_MS);
  server.idle = memoryOf(server.pid);
  return server;
}

async function waitReady(server) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let exitedEarly;
  server.exited.then((result) => (exitedEarly = result));
  while (Date.now() < deadline) {
    if (exitedEarly) throw new Error(`${server.name} exited during start (${JSON.stringify(exitedEarly)}):\n${server.log()}`);
    try {
      const { statusCode, body } = await request(`${server.base}/v2/`, { headersTimeout: 1000, bodyTimeout: 1000 });
      await body.dump();
      // 401: a config with users answers /v2/ with its challenge once it is up.
      if (statusCode === 200 || statusCode === 401) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`${server.name} not ready after ${READY_TIMEOUT_MS} ms:\n${server.log()}`);
}

/** SIGTERM, then SIGKILL if it has not exited in time; removes the temp root. */
export async function stopServer(server) {
  if (server.stopped) return;
  server.stopped = true;
  if (server.child.exitCode === null && server.child.signalCode === null) {
    server.child.kill('SIGTERM');
    const timer = setTimeout(() => server.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await server.exited;
    clearTimeout(timer);
  }
  running.delete(server);
  rmSync(server.root, { recursive: true, force: true });
}

export async function stopAll() {
  await Promise.allSettled([...running].map((server) => stopServer(server)));
}

/** Last resort from a synchronous 'exit' handler: kill what is left and remove the roots. */
export function killAllSync() {
  for (const server of running) {
    try {
      server.child.kill('SIGKILL');
    } catch {
      // already gone
    }
    rmSync(server.root, { recursive: true, force: true });
  }
  running.clear();
}

/** The last output of each server still running, for a failure report. */
export function logTails() {
  return [...running].map((server) => ({ name: server.name, log: server.log() }));
}

export function peerAvailable() {
  return existsSync(PEER_BINARY);
}

/** VmRSS and VmHWM of a process, in bytes (undefined once it is gone). */
export function memoryOf(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return match ? Number(match[1]) * 1024 : undefined;
  };
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

/** User + system CPU seconds the process has used so far (/proc/<pid>/stat), or NaN once it is gone. */
export function cpuSecondsOf(pid) {
  try {
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/**
 * Resets the peak RSS (VmHWM) to the current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux 4.0+),
 * so a later VmHWM reading covers only what follows. False when the kernel refuses.
 */
export function resetPeak(pid) {
  const before = memoryOf(pid)?.hwm ?? 0;
  peaksBeforeReset.set(pid, Math.max(peaksBeforeReset.get(pid) ?? 0, before));
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The process's peak RSS since it started, in bytes, through any `resetPeak` (NaN once it is gone). */
export function wholeRunPeak(pid) {
  const now = memoryOf(pid)?.hwm;
  return now === undefined ? NaN : Math.max(now, peaksBeforeReset.get(pid) ?? 0);
}

export function peerVersion() {
  try {
    const child = spawn(PEER_BINARY, ['--version']);
    return new Promise((resolve) => {
      let out = '';
      child.stdout.on('data', (chunk) => (out += chunk));
      child.on('error', () => resolve(undefined));
      child.on('exit', () => resolve(out.trim() || undefined));
    });
  } catch {
    return Promise.resolve(undefined);
  }
}

/** The bench's administrator, for Berths whose config has htpasswd (catalog, credentials). */
export const BENCH_ADMIN = Object.freeze({ user: 'admin', password: 'bench-admin-password' });

/** Writes an htpasswd holding BENCH_ADMIN into a server's root; returns its path for zot.json. */
export function writeAdminHtpasswd(root) {
  const file = path.join(root, 'htpasswd');
  writeFileSync(file, `${BENCH_ADMIN.user}:${bcrypt.hashSync(BENCH_ADMIN.password, 10)}\n`);
  return file;
}
