/**
 * A private Docker daemon for a test (Debian's docker.io `dockerd`): its own data root, exec root and
 * API socket in a temp folder, no networking of its own (`--bridge=none`, no iptables), the vfs
 * storage driver (no overlay mounts needed), run as a child in its own process group and stopped at
 * the end. The `docker` client runs against it with a config folder of its own, so a `docker login`
 * never touches the user's ~/.docker. Docker treats 127.0.0.0/8 as an insecure registry: a Berth on
 * loopback is pushed to over plain HTTP with no daemon setting.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runTool, type RunResult } from './run-tool.js';
import { groupStopper } from './daemon.js';

export interface Docker {
  /** Runs the `docker` client against this daemon. */
  docker(args: string[], options?: { timeoutMs?: number }): Promise<RunResult>;
  /** `docker login` to `host` with a password given on stdin (never on the command line). */
  login(host: string, username: string, password: string): Promise<void>;
  stop(): Promise<void>;
}

/** Starts dockerd in `dir` (an empty temp folder), with `registryMirror` as its Docker Hub mirror if given, and waits until `docker version` reaches it. */
export async function startDocker(dir: string, options: { registryMirror?: string } = {}): Promise<Docker> {
  const socket = path.join(dir, 'docker.sock');
  const execRoot = path.join(dir, 'exec');
  // Unix socket paths must fit sun_path (108 bytes): dockerd's own containerd socket sits deepest.
  if (path.join(execRoot, 'containerd', 'containerd.sock.ttrpc').length >= 108) throw new Error(`folder too deep for unix sockets: ${dir}`);
  const clientConfig = path.join(dir, 'client');
  await mkdir(clientConfig);
  const logFile = path.join(dir, 'dockerd.log');
  const log = openSync(logFile, 'a');
  const args = ['--data-root', path.join(dir, 'data'), '--exec-root', execRoot, '--host', `unix://${socket}`, '--pidfile', path.join(dir, 'docker.pid')];
  // detached: its own process group, so stop() reaches dockerd and the containerd it starts.
  // A mirror (the pull-through tests): docker.io pulls go there first.
  if (options.registryMirror) args.push('--registry-mirror', options.registryMirror);
  const child = spawn('dockerd', [...args, '--iptables=false', '--ip6tables=false', '--bridge=none', '--storage-driver=vfs'], { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  const env = { DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: clientConfig };
  const docker = (commandArgs: string[], options: { timeoutMs?: number } = {}) => runTool('docker', commandArgs, { env, timeoutMs: options.timeoutMs ?? 45_000 });

  const stop = groupStopper(child, 15_000);

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`dockerd exited (${child.exitCode ?? child.signalCode}) before serving:\n${await readFile(logFile, 'utf8')}`);
    try {
      await docker(['version'], { timeoutMs: 5_000 });
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`dockerd did not answer on ${socket} within 30 s:\n${await readFile(logFile, 'utf8')}`, { cause: error });
      }
      await sleep(200);
    }
  }

  return {
    docker,
    async login(host, username, password) {
      await new Promise<void>((resolve, reject) => {
        const login = spawn('docker', ['login', '--username', username, '--password-stdin', host], { env: { ...process.env, ...env }, stdio: ['pipe', 'ignore', 'pipe'] });
        let stderr = '';
        login.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
        login.once('error', reject);
        login.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker login ${host} failed (${code}): ${stderr}`))));
        login.stdin.end(password);
      });
    },
    stop,
  };
}
