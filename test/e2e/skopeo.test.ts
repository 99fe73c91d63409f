/**
 * skopeo against a real Berth: copies from an OCI image layout into Berth and back out (to `oci:` and
 * `dir:`), a multi-arch index with `--all`, list-tags / inspect / delete, a copy between two
 * repositories of the same registry (which skopeo does by cross-repository mount) and a nested name.
 * Every check is on exact digests and bytes: the registry must store what the client sent.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { TempDirs } from '../helpers/temp-dirs.js';
import { skopeo, skopeoCopy, skopeoRawManifest } from '../helpers/skopeo.js';
import { recordRequests } from '../helpers/request-log.js';
import { getManifest } from '../helpers/registry-api.js';
import { expectRegistryHolds, expectSameBlobs } from '../helpers/registry-assertions.js';
import { indexesSettled } from '../helpers/stored-files.js';
import { REF_NAME, blobsOf, buildImage, buildImageIndex, readOciLayout, writeOciLayout, type Image, type ImageIndex, type WrittenLayout } from '../helpers/oci-layout.js';
import { DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, sha256 } from '../helpers/oci.js';

const fileDirs = new TempDirs();
const testDirs = new TempDirs();
let berth: TestServer;
let image: Image;
let multi: ImageIndex;
let source: WrittenLayout;

beforeAll(async () => {
  berth = await startBerth();
  // Files up to 4 MiB: layers of several MiB, which clients stream in more than one write.
  image = await buildImage({ layers: 3, maxFileBytes: 4 * 1024 * 1024, label: 'skopeo' });
  multi = await buildImageIndex(undefined, { layers: 2, label: 'skopeo-multi' });
  source = await writeOciLayout(await fileDirs.make('skopeo-source'), { image, multi });
});

afterEach(() => testDirs.removeAll());

afterAll(async () => {
  await berth?.close();
  await fileDirs.removeAll();
});

const docker = (repo: string, tag: string) => `docker://${berth.host}/${repo}:${tag}`;

interface InspectOutput {
  Name: string;
  Digest: string;
  RepoTags: string[];
  Architecture: string;
  Os: string;
  Layers: string[];
  Labels: Record<string, string> | null;
}

describe('skopeo copy', () => {
  it('pushes a multi-layer image and pulls it back to oci: and dir: byte for byte', async () => {
    await skopeoCopy(source.reference('image'), docker('e2e/single', 'v1'));
    await expectRegistryHolds(berth.url, 'e2e/single', 'v1', image);
    expect(sha256(await skopeoRawManifest(docker('e2e/single', 'v1')))).toBe(image.manifest.digest);

    const ociDir = await testDirs.make('skopeo-pull-oci');
    await skopeoCopy(docker('e2e/single', 'v1'), `oci:${ociDir}:pulled`);
    const pulled = await readOciLayout(ociDir);
    expect(pulled.index.manifests).toHaveLength(1);
    expect(pulled.index.manifests[0]).toMatchObject({
      mediaType: OCI_MANIFEST,
      digest: image.manifest.digest,
      size: image.manifest.size,
      annotations: { [REF_NAME]: 'pulled' },
    });
    expectSameBlobs(pulled.blobs, blobsOf(image));

    // The dir: transport stores manifest.json plus one file per blob, named by the digest's hex.
    const dirDir = await testDirs.make('skopeo-pull-dir');
    await skopeoCopy(docker('e2e/single', 'v1'), `dir:${dirDir}`);
    expect((await readFile(path.join(dirDir, 'manifest.json'))).equals(image.manifest.bytes)).toBe(true);
    const blobFiles = [image.config, ...image.layers].map((item) => item.digest.slice('sha256:'.length));
    expect((await readdir(dirDir)).sort()).toEqual([...blobFiles, 'manifest.json', 'version'].sort());
    for (const item of [image.config, ...image.layers]) {
      expect((await readFile(path.join(dirDir, item.digest.slice('sha256:'.length)))).equals(item.bytes)).toBe(true);
    }
  });

  it('pushes a multi-arch index with --all and pulls every platform back', async () => {
    await skopeoCopy(source.reference('multi'), docker('e2e/multi', 'v1'), { all: true });
    await expectRegistryHolds(berth.url, 'e2e/multi', 'v1', multi);
    expect((await skopeoRawManifest(docker('e2e/multi', 'v1'))).equals(multi.index.bytes)).toBe(true);

    // skopeo resolves the index to the platform asked for; Digest stays the index's.
    const arm64 = multi.images.find((candidate) => candidate.platform.architecture === 'arm64')!;
    const { stdout } = await skopeo(['inspect', '--tls-verify=false', '--override-arch', 'arm64', '--override-variant', 'v8', docker('e2e/multi', 'v1')]);
    const inspected = JSON.parse(stdout) as InspectOutput;
    expect(inspected.Digest).toBe(multi.index.digest);
    expect(inspected.Architecture).toBe('arm64');
    expect(inspected.Layers).toEqual(arm64.layers.map((layer) => layer.digest));

    const ociDir = await testDirs.make('skopeo-pull-multi');
    await skopeoCopy(docker('e2e/multi', 'v1'), `oci:${ociDir}:multi`, { all: true });
    const pulled = await readOciLayout(ociDir);
    expect(pulled.index.manifests).toHaveLength(1);
    expect(pulled.index.manifests[0]).toMatchObject({ mediaType: OCI_INDEX, digest: multi.index.digest, size: multi.index.size });
    expectSameBlobs(pulled.blobs, blobsOf(multi));
  });

  it('converts to Docker schema 2 on push (--format v2s2) and serves the Docker manifest as pushed', async () => {
    // No --preserve-digests: converting the manifest changes its bytes; the layers and config stay.
    await skopeo(['copy', '--format', 'v2s2', '--dest-tls-verify=false', source.reference('image'), docker('e2e/docker-format', 'v1')]);
    const raw = await skopeoRawManifest(docker('e2e/docker-format', 'v1'));
    const served = await getManifest(berth.url, 'e2e/docker-format', 'v1');
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe(DOCKER_MANIFEST);
    expect(served.headers.get('docker-content-digest')).toBe(sha256(raw));
    expect(served.bytes.equals(raw)).toBe(true);
    const manifest = JSON.parse(raw.toString('utf8')) as { mediaType: string; config: { digest: string }; layers: Array<{ mediaType: string; digest: string }> };
    expect(manifest.mediaType).toBe(DOCKER_MANIFEST);
    expect(manifest.config.digest).toBe(image.config.digest);
    expect(manifest.layers.map((layer) => [layer.mediaType, layer.digest])).toEqual(image.layers.map((layer) => [DOCKER_LAYER_GZIP, layer.digest]));

    const dirDir = await testDirs.make('skopeo-pull-docker');
    await skopeoCopy(docker('e2e/docker-format', 'v1'), `dir:${dirDir}`);
    expect((await readFile(path.join(dirDir, 'manifest.json'))).equals(raw)).toBe(true);
    for (const item of [image.config, ...image.layers]) {
      expect((await readFile(path.join(dirDir, item.digest.slice('sha256:'.length)))).equals(item.bytes)).toBe(true);
    }
  });

  it('copies between two repositories of the registry by mounting the layers', async () => {
    // An image of its own: skopeo's blob-info cache then knows exactly one repository holding these layers.
    const mounted = await buildImage({ layers: 3, label: 'skopeo-mount' });
    const layoutDir = await testDirs.make('skopeo-mount-source');
    const layout = await writeOciLayout(layoutDir, { mounted });
    await skopeoCopy(layout.reference('mounted'), docker('e2e/mount-source', 'v1'));

    const log = recordRequests(berth.app.server);
    try {
      await skopeoCopy(docker('e2e/mount-source', 'v1'), docker('e2e/mount-target', 'copied'));
    } finally {
      log.stop();
    }
    await expectRegistryHolds(berth.url, 'e2e/mount-target', 'copied', mounted);

    for (const layer of mounted.layers) {
      const mounts = log.requests.filter((request) => {
        const url = new URL(request.url, berth.url);
        return request.method === 'POST' && url.searchParams.get('mount') === layer.digest;
      });
      expect(mounts, `mount requests for ${layer.digest}`).toHaveLength(1);
      const url = new URL(mounts[0]!.url, berth.url);
      expect(decodeURIComponent(url.pathname)).toBe('/v2/e2e/mount-target/blobs/uploads/');
      expect(url.searchParams.get('from')).toBe('e2e/mount-source');
      expect(mounts[0]!.status).toBe(201);
      // A mounted layer is never uploaded: no session was finished with its digest.
      const uploads = log.requests.filter((request) => request.method === 'PUT' && new URL(request.url, berth.url).searchParams.get('digest') === layer.digest);
      expect(uploads).toEqual([]);
      // Both repositories hold the blob in their own layout (zot's on-disk tree).
      const hex = layer.digest.slice('sha256:'.length);
      for (const repo of ['mount-source', 'mount-target']) {
        expect((await readFile(path.join(berth.root, 'e2e', repo, 'blobs', 'sha256', hex))).equals(layer.bytes)).toBe(true);
      }
    }
  });

  it('stores a nested repository name (e2e/a/b/c) as nested folders and serves it back', async () => {
    await skopeoCopy(source.reference('image'), docker('e2e/a/b/c', 'nested'));
    await expectRegistryHolds(berth.url, 'e2e/a/b/c', 'nested', image);

    await indexesSettled(berth.root); // index.json once Berth has folded its journal
    const onDisk = JSON.parse(await readFile(path.join(berth.root, 'e2e', 'a', 'b', 'c', 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string; annotations?: Record<string, string> }>;
    };
    expect(onDisk.manifests.find((entry) => entry.annotations?.[REF_NAME] === 'nested')?.digest).toBe(image.manifest.digest);

    const { stdout } = await skopeo(['list-tags', '--tls-verify=false', `docker://${berth.host}/e2e/a/b/c`]);
    expect(JSON.parse(stdout)).toEqual({ Repository: `${berth.host}/e2e/a/b/c`, Tags: ['nested'] });

    const ociDir = await testDirs.make('skopeo-pull-nested');
    await skopeoCopy(docker('e2e/a/b/c', 'nested'), `oci:${ociDir}:nested`);
    expectSameBlobs((await readOciLayout(ociDir)).blobs, blobsOf(image));
  });
});

describe('skopeo list-tags, inspect and delete', () => {
  it('lists tags, inspects an image and deletes it by the digest its tag resolves to', async () => {
    await skopeoCopy(source.reference('image'), docker('e2e/tags', 'v1'));
    await skopeoCopy(source.reference('image'), docker('e2e/tags', 'v2'));
    await skopeoCopy(source.reference('multi'), docker('e2e/tags', 'multi'), { all: true });

    const listed = await skopeo(['list-tags', '--tls-verify=false', `docker://${berth.host}/e2e/tags`]);
    expect(JSON.parse(listed.stdout)).toEqual({ Repository: `${berth.host}/e2e/tags`, Tags: ['multi', 'v1', 'v2'] });

    const inspected = JSON.parse((await skopeo(['inspect', '--tls-verify=false', docker('e2e/tags', 'v1')])).stdout) as InspectOutput;
    expect(inspected).toMatchObject({
      Name: `${berth.host}/e2e/tags`,
      Digest: image.manifest.digest,
      RepoTags: ['multi', 'v1', 'v2'],
      Architecture: 'amd64',
      Os: 'linux',
      Layers: image.layers.map((layer) => layer.digest),
      Labels: { 'berth.test.label': 'skopeo' },
    });

    // skopeo deletes by digest, which removes the manifest and every tag on it (v1 and v2).
    await skopeo(['delete', '--tls-verify=false', docker('e2e/tags', 'v1')]);
    for (const reference of ['v1', 'v2', image.manifest.digest]) {
      const response = await getManifest(berth.url, 'e2e/tags', reference);
      expect(response.status, `GET e2e/tags/manifests/${reference} after delete`).toBe(404);
      expect(JSON.parse(response.bytes.toString('utf8'))).toMatchObject({ errors: [{ code: 'MANIFEST_UNKNOWN' }] });
    }
    expect((await getManifest(berth.url, 'e2e/tags', 'multi')).status).toBe(200);
    const after = await skopeo(['list-tags', '--tls-verify=false', `docker://${berth.host}/e2e/tags`]);
    expect(JSON.parse(after.stdout)).toEqual({ Repository: `${berth.host}/e2e/tags`, Tags: ['multi'] });
    await expect(skopeo(['inspect', '--tls-verify=false', docker('e2e/tags', 'v1')])).rejects.toThrow(/manifest unknown/i);
  });
});
