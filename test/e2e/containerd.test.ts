/**
 * containerd (a private daemon per file, see containerd.ts) pulling from and pushing to a real Berth
 * with ctr: pull and unpack (native snapshotter) an image skopeo pushed, read its blobs back from the
 * content store, push it to another repository (containerd mounts the layers it knows came from
 * Berth); pull every platform of a multi-arch index and push it to a second registry, where every
 * blob has to be uploaded.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { TempDirs } from '../helpers/temp-dirs.js';
import { startContainerd, type Containerd } from '../helpers/containerd.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { recordRequests } from '../helpers/request-log.js';
import { expectRegistryHolds } from '../helpers/registry-assertions.js';
import { blobsOf, buildImage, buildImageIndex, writeOciLayout, type Image, type ImageIndex, type WrittenLayout } from '../helpers/oci-layout.js';
import { OCI_INDEX, OCI_MANIFEST } from '../helpers/oci.js';

const dirs = new TempDirs();
let berth: TestServer;
let containerd: Containerd;
let image: Image;
let multi: ImageIndex;
let source: WrittenLayout;

beforeAll(async () => {
  berth = await startBerth();
  containerd = await startContainerd(await dirs.make('ctd'));
  await containerd.trustPlainHttp(berth.host);
  image = await buildImage({ layers: 3, label: 'containerd' });
  multi = await buildImageIndex(undefined, { layers: 2, label: 'containerd-multi' });
  source = await writeOciLayout(await dirs.make('ctd-source'), { image, multi });
});

afterAll(async () => {
  await containerd?.stop();
  await berth?.close();
  await dirs.removeAll();
});

/** The row of `ctr images ls` for `ref`: its media type and digest. */
async function listedImage(ref: string): Promise<{ type: string; digest: string }> {
  const { stdout } = await containerd.ctr(['images', 'ls', `name==${ref}`]);
  const rows = stdout.trim().split('\n').slice(1);
  expect(rows, `ctr images ls name==${ref}`).toHaveLength(1);
  const [name, type, digest] = rows[0]!.split(/\s+/);
  expect(name).toBe(ref);
  return { type: type ?? '', digest: digest ?? '' };
}

/** Snapshot keys of unpacked layers are chain IDs (image-spec config.md "Layer ChainID"). */
function chainId(diffIds: string[]): string {
  return diffIds.reduce((parent, diffId) => `sha256:${createHash('sha256').update(`${parent} ${diffId}`).digest('hex')}`);
}

describe('containerd (ctr)', () => {
  it('pulls and unpacks an image skopeo pushed, serves its blobs, and pushes it to another repository', async () => {
    await skopeoCopy(source.reference('image'), `docker://${berth.host}/e2e/ctr-source:v1`);
    const ref = `${berth.host}/e2e/ctr-source:v1`;
    await containerd.ctr(['images', 'pull', '--hosts-dir', containerd.hostsDir, '--snapshotter', 'native', ref]);
    expect(await listedImage(ref)).toEqual({ type: OCI_MANIFEST, digest: image.manifest.digest });
    for (const item of blobsOf(image)) {
      const { stdoutBytes } = await containerd.ctr(['content', 'get', item.digest]);
      expect(stdoutBytes.equals(item.bytes), `ctr content get ${item.digest}`).toBe(true);
    }
    // Unpacking checked every layer against the config's diff_ids; the top snapshot is their chain ID.
    const snapshots = (await containerd.ctr(['snapshots', '--snapshotter', 'native', 'ls'])).stdout;
    expect(snapshots).toContain(chainId(image.layers.map((layer) => layer.diffId)));

    const log = recordRequests(berth.app.server);
    try {
      await containerd.ctr(['images', 'push', '--hosts-dir', containerd.hostsDir, `${berth.host}/e2e/ctr-pushed:v1`, ref]);
    } finally {
      log.stop();
    }
    await expectRegistryHolds(berth.url, 'e2e/ctr-pushed', 'v1', image);
    // containerd labels pulled content with its source repository and mounts from there on push.
    for (const layer of image.layers) {
      const mounted = log.requests.filter((request) => {
        const url = new URL(request.url, berth.url);
        return request.method === 'POST' && url.searchParams.get('mount') === layer.digest && url.searchParams.get('from') === 'e2e/ctr-source';
      });
      expect(
        mounted.map((request) => request.status),
        `mount of ${layer.digest}`,
      ).toEqual([201]);
    }
  });

  it('pulls every platform of a multi-arch index and pushes it to a second registry byte for byte', async () => {
    await skopeoCopy(source.reference('multi'), `docker://${berth.host}/e2e/ctr-multi:v1`, { all: true });
    const ref = `${berth.host}/e2e/ctr-multi:v1`;
    await containerd.ctr(['images', 'pull', '--hosts-dir', containerd.hostsDir, '--snapshotter', 'native', '--all-platforms', ref]);
    expect(await listedImage(ref)).toEqual({ type: OCI_INDEX, digest: multi.index.digest });
    for (const item of blobsOf(multi)) {
      const { stdoutBytes } = await containerd.ctr(['content', 'get', item.digest]);
      expect(stdoutBytes.equals(item.bytes), `ctr content get ${item.digest}`).toBe(true);
    }

    // A registry containerd has no content from: every blob is uploaded, not mounted.
    const second = await startBerth();
    try {
      await containerd.trustPlainHttp(second.host);
      const log = recordRequests(second.app.server);
      try {
        await containerd.ctr(['images', 'push', '--hosts-dir', containerd.hostsDir, `${second.host}/e2e/ctr-copy:v1`, ref]);
      } finally {
        log.stop();
      }
      await expectRegistryHolds(second.url, 'e2e/ctr-copy', 'v1', multi);
      const uploaded = log.requests
        .filter((request) => request.method === 'PUT' && request.status === 201)
        .map((request) => new URL(request.url, second.url).searchParams.get('digest'))
        .filter((digest) => digest !== null);
      const blobDigests = multi.images.flatMap((item) => [item.config.digest, ...item.layers.map((layer) => layer.digest)]);
      expect(uploaded.sort()).toEqual(blobDigests.sort());
    } finally {
      await second.close();
    }
  });
});
