/**
 * Berth as the Docker Hub mirror of real clients, each pulling `library/alpine` through it from a
 * local upstream (Debian's docker-registry standing in for Docker Hub, with a real image: tar
 * layers the clients unpack): docker with `--registry-mirror`, podman with a `[[registry.mirror]]`
 * in registries.conf, containerd's ctr with a hosts.toml mirror (which adds `?ns=<registry>`).
 * Each client's pull must verify and unpack; Berth then holds the image.
 */
import { writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerTools } from '../helpers/container-tools.js';
import { startContainerd } from '../helpers/containerd.js';
import { startDocker } from '../helpers/docker.js';
import { buildImage, type Image } from '../helpers/oci-layout.js';
import { pushImage } from '../helpers/registry-api.js';
import { recordRequests, type RequestLog } from '../helpers/request-log.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { TempDirs } from '../helpers/temp-dirs.js';
import { startDockerRegistry, type UpstreamRegistry } from '../helpers/upstream-registry.js';

const dirs = new TempDirs();

describe('Berth as a Docker Hub mirror for docker, podman and containerd', () => {
  let upstream: UpstreamRegistry;
  let berth: TestServer;
  let requests: RequestLog;
  let image: Image;

  beforeAll(async () => {
    upstream = await startDockerRegistry();
    image = await buildImage({ layers: 2, label: 'mirror' });
    for (const name of ['library/alpine', 'library/busybox', 'library/debian']) await pushImage(upstream.url, name, 'latest', { image });
    berth = await startBerth({ config: { extensions: { sync: { enable: true, registries: [{ urls: [upstream.url], onDemand: true }] } } } });
    requests = recordRequests(berth.app.server);
  }, 60_000);
  afterAll(async () => {
    requests?.stop();
    await berth?.close();
    await upstream?.stop();
    await dirs.removeAll();
  });

  /** What Berth's own storage holds under `name:latest` (read past the cache, which would fetch on a miss). */
  const holds = async (name: string) => {
    await berth.app.pullThrough!.settled();
    return (await berth.app.registry.manifests.head(name, { tag: 'latest' })).digest;
  };

  it('docker (registry-mirrors) pulls alpine through Berth', async () => {
    const docker = await startDocker(await dirs.make('mirror-docker'), { registryMirror: berth.url });
    try {
      await docker.docker(['pull', 'alpine:latest'], { timeoutMs: 120_000 });
      const repoDigests = JSON.parse((await docker.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', 'alpine:latest'])).stdout) as string[];
      expect(repoDigests).toContain(`alpine@${image.manifest.digest}`);
    } finally {
      await docker.stop();
    }
    // docker resolves the tag with a HEAD, then fetches the manifest by digest: both through Berth.
    expect(requests.requests).toContainEqual({ method: 'HEAD', url: '/v2/library/alpine/manifests/latest', status: 200 });
    expect(requests.requests).toContainEqual({ method: 'GET', url: `/v2/library/alpine/manifests/${image.manifest.digest}`, status: 200 });
    expect(await holds('library/alpine')).toBe(image.manifest.digest);
  }, 180_000);

  it('podman ([[registry.mirror]] in registries.conf) pulls busybox through Berth', async () => {
    const dir = await dirs.make('mirror-podman');
    const tools = await containerTools(dir, berth.host);
    await writeFile(
      path.join(dir, 'registries.conf'),
      `unqualified-search-registries = []\n\n[[registry]]\nlocation = "docker.io"\n\n[[registry.mirror]]\nlocation = "${berth.host}"\ninsecure = true\n`,
    );
    await tools.podman(['pull', 'docker.io/library/busybox:latest'], 120_000);
    const pulled = await tools.inspectImage('docker.io/library/busybox:latest');
    expect(pulled.Digest).toBe(image.manifest.digest);
    expect(requests.requests).toContainEqual(expect.objectContaining({ method: 'GET', url: `/v2/library/busybox/manifests/latest`, status: 200 }));
    expect(await holds('library/busybox')).toBe(image.manifest.digest);
  }, 180_000);

  it('containerd (a hosts.toml mirror, ?ns=<registry>) pulls debian through Berth', async () => {
    // containerd names the mirrored registry in ?ns=; Berth answers only from an upstream of that
    // registry, so the mirror here is for the upstream's own host (Docker Hub's would be docker.io).
    const registry = new URL(upstream.url).host;
    const containerd = await startContainerd(await dirs.make('mirror-ctd'));
    try {
      await mkdir(path.join(containerd.hostsDir, registry), { recursive: true });
      await writeFile(path.join(containerd.hostsDir, registry, 'hosts.toml'), `server = "${upstream.url}"\n\n[host."${berth.url}"]\n  capabilities = ["pull", "resolve"]\n`);
      await containerd.ctr(['image', 'pull', '--hosts-dir', containerd.hostsDir, `${registry}/library/debian:latest`], 120_000);
      const listed = (await containerd.ctr(['image', 'ls', '-q'])).stdout;
      expect(listed).toContain(`${registry}/library/debian:latest`);
    } finally {
      await containerd.stop();
    }
    expect(requests.requests.some((item) => item.url.startsWith('/v2/library/debian/manifests/latest') && item.url.includes(`ns=${encodeURIComponent(registry)}`) && item.status === 200)).toBe(true);
    expect(await holds('library/debian')).toBe(image.manifest.digest);
  }, 180_000);
});
