/**
 * A throwaway Redis for tests: Debian's `redis-server` as a child process (never daemonized) on a
 * free loopback port, with no persistence at all (`--save ''`, `--appendonly no`, its own empty
 * working folder), ready once it answers PING. The vitest globalSetup (test/setup/services.ts)
 * runs the shared instance with it; a test that takes Redis away and brings it back starts its own:
 *
 *   const redis = await startRedis();
 *   await redis.kill();     // SIGKILL, as a crash would: clients see their connections drop
 *   await redis.restart();  // the same port again, empty
 *   await redis.stop();     // always, in afterAll/finally: also after kill()
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const REDIS_SERVER = '/usr/bin/redis-server';
/** Each instance's folder: `owner` (the PID of the process that started it) and `redis.pid`. */
const DIR_PREFIX = 'berth-redis-';

export interface RedisServer {
  /** redis://127.0.0.1:PORT */
  url: string;
  port: number;
  /** SIGTERM and wait for exit (SIGKILL after 5 s), then remove the working folder. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the process to exit: a crash, as clients see it. */
  kill(): Promise<void>;
  /** Start again on the same port (after kill() or stop()) and wait for PING; data is gone. */
  restart(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;

/** A port that was free on 127.0.0.1 a moment ago (the kernel's pick for port 0). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/** `count` distinct free loopback ports: all are held open until every one is picked. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  return ports;
}

/** True when 127.0.0.1:port answers PING with +PONG within a second. */
export function pingRedis(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

class Instance implements RedisServer {
  readonly url: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** The last lines redis-server printed, for error messages. */
  private output: string[] = [];

  constructor(
    readonly port: number,
    private readonly dir: string,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
  }

  async launch(): Promise<void> {
    if (this.child !== undefined) throw new Error(`redis-server on port ${this.port} is already running`);
    this.output = [];
    await mkdir(this.dir, { recursive: true }); // stop() removed it
    await writeFile(path.join(this.dir, 'owner'), `${process.pid}\n`);
    const child = spawn(
      REDIS_SERVER,
      // `--save ''` and `--appendonly no`: nothing is ever written to disk; `--dir`: should a
      // client ask for SAVE anyway, the file lands in this instance's own folder. `--pidfile`: for
      // sweepOrphanedRedis, should the process that started it die without stopping it.
      [...['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], ...['--dir', this.dir, '--pidfile', path.join(this.dir, 'redis.pid')]],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    const keep = (chunk: Buffer): void => {
      this.output.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((line) => line.trim() !== ''),
      );
      this.output.splice(0, Math.max(0, this.output.length - 30));
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exitCode: string | undefined;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitCode = signal ?? String(code);
        if (this.child === child) this.child = undefined;
        resolve();
      });
      child.once('error', (error) => {
        exitCode = error.message;
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (exitCode !== undefined) {
        throw new Error(`redis-server on 127.0.0.1:${this.port} exited (${exitCode}) before answering PING:\n${this.output.join('\n')}`);
      }
      if (await pingRedis(this.port)) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`redis-server on 127.0.0.1:${this.port} did not answer PING within ${READY_TIMEOUT_MS} ms:\n${this.output.join('\n')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * Sends `signal` (synchronously, so it also works from a process 'exit' handler), SIGKILL after
   * `graceMs`; resolves once the process has exited.
   */
  private async signal(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill(signal);
    const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): Promise<void> {
    return this.signal('SIGKILL', 0);
  }

  async stop(): Promise<void> {
    await this.signal('SIGTERM', 5000);
    await rm(this.dir, { recursive: true, force: true });
  }

  async restart(): Promise<void> {
    await this.signal('SIGTERM', 5000);
    await this.launch();
  }
}

/** Starts redis-server on a free 127.0.0.1 port and waits until it answers PING. */
export async function startRedis(): Promise<RedisServer> {
  const dir = await mkdtemp(path.join(tmpdir(), DIR_PREFIX));
  let lastError: unknown;
  // The port is probed, closed, then handed to redis-server: should another process take it in
  // between ("Address already in use"), try again with another one.
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const instance = new Instance(await freePort(), dir);
    try {
      await instance.launch();
      return instance;
    } catch (error) {
      lastError = error;
      if (!(error instanceof Error && /already in use/i.test(error.message))) break;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Kills the redis-servers whose starter died without stopping them (a test run killed with
 * SIGKILL) and removes their folders. Instances of live processes (another test run) and any
 * process that is not a redis-server (its PID reused) are left alone. The globalSetup calls it.
 */
export async function sweepOrphanedRedis(): Promise<void> {
  const entries = await readdir(tmpdir()).catch(() => [] as string[]);
  for (const name of entries.filter((entry) => entry.startsWith(DIR_PREFIX))) {
    const dir = path.join(tmpdir(), name);
    const read = (file: string): Promise<number> =>
      readFile(path.join(dir, file), 'utf8').then(
        (text) => Number.parseInt(text, 10),
        () => Number.NaN,
      );
    const owner = await read('owner');
    if (!(owner > 0) || isAlive(owner)) continue;
    const pid = await read('redis.pid');
    const command = pid > 0 ? await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '') : '';
    if (command.startsWith(REDIS_SERVER) || command.startsWith('redis-server')) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}
