#!/usr/bin/env node
/**
 * Runs before vitest (`npm test`): makes sure the Debian tools the end-to-end tests drive are
 * installed. The e2e tests never skip when a tool is missing, so this step installs them as root
 * or stops with the one command that would, instead of letting tests fail with ENOENT later.
 * When every tool is present it only stats a few files: no apt call at all.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/** Each executable the tests run, and the Debian package that provides it. */
const TOOLS = [
  { command: 'skopeo', pkg: 'skopeo' },
  { command: 'podman', pkg: 'podman' },
  { command: 'buildah', pkg: 'buildah' },
  { command: 'containerd', pkg: 'containerd' },
  { command: 'ctr', pkg: 'containerd' },
  // The events tests push with docker to a private daemon (test/helpers/docker.ts).
  { command: 'dockerd', pkg: 'docker.io' },
  { command: 'docker', pkg: 'docker.io' },
  // The events tests' NATS sink (test/helpers/nats-server.ts).
  { command: 'nats-server', pkg: 'nats-server' },
  // The sync tests' upstream registry (test/helpers/upstream-registry.ts), as the benchmarks' peer.
  { command: '/usr/bin/docker-registry', pkg: 'docker-registry' },
  // The web UI's end-to-end tests drive Debian's Chromium through playwright-core.
  { command: '/usr/bin/chromium', pkg: 'chromium' },
  // The TLS test makes its certificates with it; the disk-full test mounts a tmpfs.
  { command: 'openssl', pkg: 'openssl' },
  { command: 'mount', pkg: 'mount' },
  // The S3 and Redis tests' services (test/setup/services.ts): a throwaway single-node Ceph cluster
  // with radosgw (test/setup/ceph/ceph-up.sh, which also polls radosgw with curl) and redis-server.
  // .ci/run installs them up front with --no-install-recommends; here they come with recommends.
  { command: 'ceph-mon', pkg: 'ceph-mon' },
  { command: 'ceph-osd', pkg: 'ceph-osd' },
  { command: 'radosgw', pkg: 'radosgw' },
  { command: 'radosgw-admin', pkg: 'radosgw' },
  { command: 'ceph', pkg: 'ceph-common' },
  { command: 'ceph-authtool', pkg: 'ceph-common' },
  { command: 'monmaptool', pkg: 'ceph-base' },
  { command: 'uuidgen', pkg: 'uuid-runtime' },
  { command: '/usr/bin/redis-server', pkg: 'redis-server' },
  { command: 'curl', pkg: 'curl' },
];

/** Where `command` resolves: an absolute path as is, else the first executable match on PATH. */
function resolve(command) {
  const candidates = path.isAbsolute(command)
    ? [command]
    : (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
        .split(path.delimiter)
        .filter((folder) => folder !== '')
        .map((folder) => path.join(folder, command));
  return candidates.find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const missing = TOOLS.filter(({ command }) => resolve(command) === undefined);
if (missing.length === 0) process.exit(0);

const packages = [...new Set(missing.map(({ pkg }) => pkg))];
const commands = missing.map(({ command }) => command).join(', ');
const installArgs = ['install', '-y', ...packages];

if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
  console.error(
    `system-tools: missing ${commands} (Debian packages: ${packages.join(' ')}); install them as root with:\n` + `  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get ${installArgs.join(' ')}`,
  );
  process.exit(1);
}

console.log(`system-tools: missing ${commands}; apt-get installing ${packages.join(' ')}`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
try {
  // apt's own progress goes to the terminal: an install can take minutes and should not look hung.
  execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env, timeout: 10 * 60_000 });
  execFileSync('apt-get', installArgs, { stdio: ['ignore', 'ignore', 'inherit'], env, timeout: 20 * 60_000 });
} catch (error) {
  console.error(`system-tools: apt-get failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

const stillMissing = TOOLS.filter(({ command }) => resolve(command) === undefined);
if (stillMissing.length > 0) {
  console.error(`system-tools: still missing after install: ${stillMissing.map(({ command }) => command).join(', ')}`);
  process.exit(1);
}
