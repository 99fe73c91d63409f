/**
 * A private Docker daemon for a test (Debian's docker.io, run as root, no networking): its own data
 * root, exec root and API socket in a temp folder, vfs storage (plain copies: no overlay mounts),
 * no iptables and no bridge, run as a child in its own process group and stopped at the end. The
 * `docker` client talks to it with `-H unix://…` and keeps its logins in a config folder of its own
 * (DOCKER_CONFIG), never in ~/.docker. Registries on 127.0.0.0/8 are plain HTTP by Docker's default.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runTool, type RunResult } from './run-tool.js';

export interface Dockerd {
  /** Runs the docker client against this daemon. */
  docker(args: string[], timeoutMs?: number): Promise<RunResult>;
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Starts dockerd in `dir` (an empty temp folder) and waits until it answers `docker version`. */
export async function startDockerd(dir: string): Promise<Dockerd> {
  const socket = path.join(dir, 'docker.sock');
  if (socket.length >= 100) throw new Error(`socket path too long for a unix socket: ${socket}`);
  const config = path.join(dir, 'config');
  const logFile = path.join(dir, 'dockerd.log');
  await mkdir(config);
  const log = openSync(logFile, 'a');
  const args = [
    '--data-root',
    path.join(dir, 'data'),
    '--exec-root',
    path.join(dir, 'exec'),
    '--pidfile',
    path.join(dir, 'dockerd.pid'),
    '--host',
    `unix://${socket}`,
    '--iptables=false',
    '--ip6tables=false',
    '--bridge=none',
    '--storage-driver=vfs',
  ];
  // detached: its own process group, so stop() reaches dockerd and the containerd it started.
  const child = spawn('dockerd', args, { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  const childExited = exited(child);
  const docker = (argv: string[], timeoutMs = 45_000) => runTool('docker', ['-H', `unix://${socket}`, ...argv], { timeoutMs, env: { DOCKER_CONFIG: config } });
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    signalGroup('SIGTERM');
    const timer = setTimeout(() => signalGroup('SIGKILL'), 15_000);
    await childExited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`dockerd exited (${child.exitCode ?? child.signalCode}) before serving:\n${await readFile(logFile, 'utf8')}`);
    try {
      await docker(['version'], 5_000);
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`dockerd did not answer on ${socket} within 30 s:\n${await readFile(logFile, 'utf8')}`, { cause: error });
      }
      await sleep(200);
    }
  }
  return { docker, stop };
}
