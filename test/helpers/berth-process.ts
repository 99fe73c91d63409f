/**
 * Berth as a real process (`node dist/main.js`, built once for the whole run by
 * test/setup/build.ts), for tests that must kill it rather than close it: start `berth serve` on a
 * free loopback port over a given storage root, wait until `/v2/` answers, `kill -9` it or stop it with SIGTERM, and run the one-shot commands
 * (`berth gc`, `berth scrub`). Every process started here is tracked, so `killAllBerthProcesses`
 * in an afterAll leaves none behind even when a test fails half-way.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPOSITORY = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = path.join(REPOSITORY, 'dist', 'main.js');
const live = new Set<ChildProcess>();

/** A port nothing listens on right now (the kernel's choice for port 0, released at once). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  if (typeof address !== 'object' || address === null) throw new Error('probe has no address');
  return address.port;
}

/** Writes a zot.json for `root` (plus `extra`, merged one level deep) into a fresh folder; returns its path. */
export async function writeConfig(root: string, extra: Record<string, Record<string, unknown>> = {}, port = 0): Promise<{ file: string; remove(): Promise<void> }> {
  const folder = await mkdtemp(path.join(tmpdir(), 'berth-process-config-'));
  const file = path.join(folder, 'zot.json');
  const document = {
    ...extra,
    storage: { ...extra.storage, rootDirectory: root },
    http: { ...extra.http, address: '127.0.0.1', port },
    log: { level: 'warn', ...extra.log },
  };
  await writeFile(file, JSON.stringify(document, null, 2));
  return { file, remove: () => rm(folder, { recursive: true, force: true }) };
}

export interface BerthProcess {
  /** `http://127.0.0.1:<port>` */
  url: string;
  pid: number;
  /** stdout and stderr so far (the server's log), for failure messages. */
  output(): string;
  /** SIGKILL, as a crash or the OOM killer would: no shutdown code runs. Resolves once it is gone. */
  kill9(): Promise<void>;
  /** SIGTERM (graceful shutdown); resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `berth serve` over `root` on a free port and waits until it answers `GET /startupz`. */
export async function startBerthProcess(root: string, extra: Record<string, Record<string, unknown>> = {}, options: { env?: Record<string, string> } = {}): Promise<BerthProcess> {
  const port = await freePort();
  const config = await writeConfig(root, extra, port);
  const child = spawn(process.execPath, [MAIN, 'serve', config.file], { cwd: REPOSITORY, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  live.add(child);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      live.delete(child);
      void config.remove();
      resolve(code);
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (let ready = false; !ready;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`berth serve exited (${child.exitCode ?? child.signalCode}) before answering:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`berth serve did not answer GET /startupz within 15 s:\n${output}`);
    }
    ready = await fetch(`${url}/startupz`, { signal: AbortSignal.timeout(1_000) }).then(
      async (response) => {
        await response.arrayBuffer();
        return response.status === 200;
      },
      () => false,
    );
    if (!ready) await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    url,
    pid: child.pid!,
    output: () => output,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** For afterAll: SIGKILL every process this helper started that is still running. */
export async function killAllBerthProcesses(): Promise<void> {
  await Promise.all(
    [...live].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a one-shot `berth <command> <config>` (gc, scrub, verify) to completion; never throws on a
 * non-zero exit. A command with a sub-command and operands (`users release <config> <name>`) passes
 * `command` as `['users', 'release']` and the operands after the config in `args`.
 */
export async function runBerthCommand(command: string | string[], configFile: string, env: Record<string, string> = {}, args: string[] = []): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [MAIN, ...([] as string[]).concat(command), configFile, ...args],
      { cwd: REPOSITORY, timeout: 60_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error);
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
  });
}
