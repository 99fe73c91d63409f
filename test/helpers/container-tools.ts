/**
 * podman and buildah with a private store per test, so tests neither see nor leave images in the
 * machine's /var/lib/containers: `--root`/`--runroot` (and podman's `--tmpdir`) in a temp folder,
 * the vfs storage driver (plain directory copies: no overlay or fuse mounts, nothing to unmount),
 * cgroupfs and file events (no systemd here). No container is ever run, so no network or user
 * namespaces are needed. CONTAINERS_REGISTRIES_CONF points at a registries.conf that marks the test
 * registry insecure (plain HTTP) and ignores the machine's mirrors and aliases.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runTool, type RunResult } from './run-tool.js';

export interface ContainerTools {
  podman(args: string[], timeoutMs?: number): Promise<RunResult>;
  buildah(args: string[], timeoutMs?: number): Promise<RunResult>;
  /** `podman image inspect` of one image, parsed. */
  inspectImage(reference: string): Promise<PodmanImage>;
}

/** The fields of `podman image inspect` the tests look at. */
export interface PodmanImage {
  Id: string;
  Digest: string;
  RepoDigests: string[];
  Architecture: string;
  Os: string;
  RootFS: { Type: string; Layers: string[] };
  Labels: Record<string, string> | null;
}

/** Sets up a private podman/buildah store in `dir` (an empty temp folder) that trusts `registryHost` over HTTP. */
export async function containerTools(dir: string, registryHost: string): Promise<ContainerTools> {
  const root = path.join(dir, 'root');
  const tmp = path.join(dir, 'tmp');
  // podman refuses a runroot longer than 50 characters (socket paths below it must fit sun_path).
  const runroot = path.join(dir, 'run');
  if (runroot.length > 50) throw new Error(`podman needs a runroot of at most 50 characters; ${runroot} is ${runroot.length} (use a shorter TMPDIR or prefix)`);
  await Promise.all([root, runroot, tmp].map((folder) => mkdir(folder, { recursive: true })));
  const registriesConf = path.join(dir, 'registries.conf');
  await writeFile(registriesConf, `unqualified-search-registries = []\n\n[[registry]]\nlocation = "${registryHost}"\ninsecure = true\n`);
  const env = { CONTAINERS_REGISTRIES_CONF: registriesConf, TMPDIR: tmp };
  const storage = ['--root', root, '--runroot', runroot, '--storage-driver', 'vfs'];

  const podman = (args: string[], timeoutMs = 45_000) => runTool('podman', [...storage, '--tmpdir', tmp, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', ...args], { env, timeoutMs });
  const buildah = (args: string[], timeoutMs = 45_000) => runTool('buildah', [...storage, ...args], { env, timeoutMs });

  return {
    podman,
    buildah,
    async inspectImage(reference) {
      const [image] = JSON.parse((await podman(['image', 'inspect', reference])).stdout) as PodmanImage[];
      if (!image) throw new Error(`podman image inspect ${reference} printed no image`);
      return image;
    },
  };
}
