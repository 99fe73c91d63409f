/**
 * A private containerd for a test: its own config, root, state and gRPC socket in a temp folder, run
 * as a child in its own process group and stopped at the end. Only content, images, leases and the
 * native snapshotter are used (no containers), so the CRI plugin and the snapshotters that need kernel
 * features or extra filesystems are disabled. Registries are reached over plain HTTP through a
 * hosts.toml per registry (containerd's "hosts directory", passed to ctr as `--hosts-dir`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runTool, type RunResult } from './run-tool.js';

export interface Containerd {
  /** The gRPC socket ctr talks to. */
  address: string;
  /** Runs `ctr` against this containerd, in the `berth-e2e` namespace. */
  ctr(args: string[], timeoutMs?: number): Promise<RunResult>;
  /** Writes hosts.toml so `host` (`127.0.0.1:<port>`) is pulled from and pushed to over plain HTTP. */
  trustPlainHttp(host: string): Promise<void>;
  /** `--hosts-dir` value for ctr pull/push. */
  hostsDir: string;
  stop(): Promise<void>;
}

const DISABLED_PLUGINS = [
  'io.containerd.grpc.v1.cri',
  // Would write to /opt/containerd.
  'io.containerd.internal.v1.opt',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing',
];

function configToml(dir: string, socket: string): string {
  return [
    'version = 2',
    `root = ${JSON.stringify(path.join(dir, 'root'))}`,
    `state = ${JSON.stringify(path.join(dir, 'state'))}`,
    `disabled_plugins = ${JSON.stringify(DISABLED_PLUGINS)}`,
    '',
    '[grpc]',
    `  address = ${JSON.stringify(socket)}`,
    '[ttrpc]',
    `  address = ${JSON.stringify(`${socket}.ttrpc`)}`,
    // No debug or metrics listeners: nothing but the test's socket is opened.
    '[debug]',
    '  address = ""',
    '  level = "info"',
    '[metrics]',
    '  address = ""',
    '',
  ].join('\n');
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Starts containerd in `dir` (an empty temp folder) and waits until it answers `ctr version`. */
export async function startContainerd(dir: string): Promise<Containerd> {
  const socket = path.join(dir, 'containerd.sock');
  // A unix socket path must fit sockaddr_un.sun_path (108 bytes, with the ".ttrpc" suffix).
  if (socket.length + '.ttrpc'.length >= 108) throw new Error(`socket path too long for a unix socket: ${socket}`);
  const configFile = path.join(dir, 'config.toml');
  const hostsDir = path.join(dir, 'hosts');
  const logFile = path.join(dir, 'containerd.log');
  await writeFile(configFile, configToml(dir, socket));
  await mkdir(hostsDir);

  const log = openSync(logFile, 'a');
  // detached: its own process group, so stop() reaches containerd and anything it spawned.
  const child = spawn('containerd', ['--config', configFile], { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  const childExited = exited(child);
  const ctr = (args: string[], timeoutMs = 45_000) => runTool('ctr', ['--address', socket, '--namespace', 'berth-e2e', ...args], { timeoutMs });

  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch (error) {
      // ESRCH: the group is already gone.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    signalGroup('SIGTERM');
    const timer = setTimeout(() => signalGroup('SIGKILL'), 10_000);
    await childExited;
    clearTimeout(timer);
  };

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`containerd exited (${child.exitCode ?? child.signalCode}) before serving:\n${await readFile(logFile, 'utf8')}`);
    }
    try {
      await ctr(['version'], 5_000);
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`containerd did not answer on ${socket} within 15 s:\n${await readFile(logFile, 'utf8')}`, { cause: error });
      }
      await sleep(100);
    }
  }

  return {
    address: socket,
    ctr,
    hostsDir,
    async trustPlainHttp(host) {
      await mkdir(path.join(hostsDir, host), { recursive: true });
      await writeFile(path.join(hostsDir, host, 'hosts.toml'), `server = "http://${host}"\n\n[host."http://${host}"]\n  capabilities = ["pull", "resolve", "push"]\n`);
    },
    stop,
  };
}
