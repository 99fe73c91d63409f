/**
 * podman and buildah (as root, each test with its own vfs store, see container-tools.ts) pulling
 * from and pushing to a real Berth. podman: pull what skopeo pushed, tag, push under another name,
 * pull that back into a fresh store; push an image it loaded from an OCI layout (so podman compresses
 * and uploads the layers itself); pull one platform of a multi-arch index; push a manifest list it
 * assembled (`podman manifest`); find repositories and tags with `podman search` (the catalog).
 * buildah: build an image from scratch, push it, inspect it with skopeo and pull it back.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { TempDirs } from '../helpers/temp-dirs.js';
import { containerTools } from '../helpers/container-tools.js';
import { skopeo, skopeoCopy, skopeoRawManifest } from '../helpers/skopeo.js';
import { recordRequests } from '../helpers/request-log.js';
import { expectManifest, expectRegistryHolds, pullConsistentImage } from '../helpers/registry-assertions.js';
import { getManifest } from '../helpers/registry-api.js';
import { buildImage, buildImageIndex, readTarFiles, writeOciLayout, type Image, type ImageIndex, type WrittenLayout } from '../helpers/oci-layout.js';
import { sha256 } from '../helpers/oci.js';

const fileDirs = new TempDirs();
const testDirs = new TempDirs();
let berth: TestServer;
let image: Image;
let multi: ImageIndex;
let source: WrittenLayout;

beforeAll(async () => {
  berth = await startBerth();
  image = await buildImage({ layers: 3, label: 'podman' });
  multi = await buildImageIndex(undefined, { layers: 2, label: 'podman-multi' });
  source = await writeOciLayout(await fileDirs.make('podman-source'), { image, multi });
});

afterEach(() => testDirs.removeAll());

afterAll(async () => {
  await berth?.close();
  await fileDirs.removeAll();
});

const diffIds = (built: Image) => built.layers.map((layer) => layer.diffId);

describe('podman', () => {
  it('pulls an image skopeo pushed, pushes it to another repository and pulls that back', async () => {
    await skopeoCopy(source.reference('image'), `docker://${berth.host}/e2e/podman-source:v1`);
    const first = await containerTools(await testDirs.make('pm-a'), berth.host);
    const pulledRef = `${berth.host}/e2e/podman-source:v1`;
    await first.podman(['pull', '--tls-verify=false', pulledRef]);
    const pulled = await first.inspectImage(pulledRef);
    expect(pulled.Digest).toBe(image.manifest.digest);
    // podman's image ID is the config digest; its layers were unpacked and checked against diff_ids.
    expect(`sha256:${pulled.Id}`).toBe(image.config.digest);
    expect(pulled.RootFS.Layers).toEqual(diffIds(image));

    const pushedRef = `${berth.host}/e2e/podman-pushed:copy`;
    const digestFile = path.join(await testDirs.make('podman-digest'), 'digest');
    await first.podman(['tag', pulledRef, pushedRef]);
    await first.podman(['push', '--tls-verify=false', '--digestfile', digestFile, pushedRef]);
    const pushedDigest = (await readFile(digestFile, 'utf8')).trim();
    const served = await pullConsistentImage(berth.url, 'e2e/podman-pushed', 'copy');
    expect(served.digest).toBe(pushedDigest);
    expect(served.manifest.config.digest).toBe(image.config.digest);
    expect(served.config.rootfs.diff_ids).toEqual(diffIds(image));

    const second = await containerTools(await testDirs.make('pm-b'), berth.host);
    await second.podman(['pull', '--tls-verify=false', pushedRef]);
    const pulledBack = await second.inspectImage(pushedRef);
    expect(pulledBack.Digest).toBe(pushedDigest);
    expect(`sha256:${pulledBack.Id}`).toBe(image.config.digest);
    expect(pulledBack.RootFS.Layers).toEqual(diffIds(image));
  });

  it('pushes an image it pulled from an OCI layout, compressing and uploading the layers itself', async () => {
    // A registry podman has never seen: no blob can be reused or mounted, every layer is uploaded.
    const fresh = await startBerth();
    try {
      const tools = await containerTools(await testDirs.make('pm-layout'), fresh.host);
      // podman prints the ID of the image it pulled: the config digest's hex.
      const imageId = (await tools.podman(['pull', source.reference('image')])).stdout.trim();
      expect(`sha256:${imageId}`).toBe(image.config.digest);
      const local = await tools.inspectImage(imageId);
      expect(local.RootFS.Layers).toEqual(diffIds(image));

      const pushedRef = `${fresh.host}/e2e/from-layout:v1`;
      const digestFile = path.join(await testDirs.make('podman-layout-digest'), 'digest');
      await tools.podman(['tag', local.Id, pushedRef]);
      const log = recordRequests(fresh.app.server);
      try {
        await tools.podman(['push', '--tls-verify=false', '--format', 'oci', '--digestfile', digestFile, pushedRef]);
      } finally {
        log.stop();
      }
      const pushedDigest = (await readFile(digestFile, 'utf8')).trim();
      const served = await pullConsistentImage(fresh.url, 'e2e/from-layout', 'v1');
      expect(served.digest).toBe(pushedDigest);
      expect(served.config.rootfs.diff_ids).toEqual(diffIds(image));
      // Each layer's bytes went through an upload session that Berth closed with 201 on its digest.
      for (const layer of served.manifest.layers) {
        const finished = log.requests.filter((request) => request.method === 'PUT' && request.status === 201 && new URL(request.url, fresh.url).searchParams.get('digest') === layer.digest);
        expect(finished, `upload of ${layer.digest}`).toHaveLength(1);
      }
      // Same files as the original layers, whatever compression podman chose.
      for (const [i, layer] of served.layers.entries()) {
        expect(sha256(layer)).toBe(image.layers[i]!.diffId);
      }

      const again = await containerTools(await testDirs.make('pm-again'), fresh.host);
      await again.podman(['pull', '--tls-verify=false', pushedRef]);
      const pulledBack = await again.inspectImage(pushedRef);
      expect(pulledBack.Digest).toBe(pushedDigest);
      expect(pulledBack.RootFS.Layers).toEqual(diffIds(image));
    } finally {
      await fresh.close();
    }
  });

  it('pulls the arm64 image of a multi-arch index', async () => {
    await skopeoCopy(source.reference('multi'), `docker://${berth.host}/e2e/podman-multi:v1`, { all: true });
    await expectRegistryHolds(berth.url, 'e2e/podman-multi', 'v1', multi);
    const tools = await containerTools(await testDirs.make('pm-multi'), berth.host);
    const reference = `${berth.host}/e2e/podman-multi:v1`;
    await tools.podman(['pull', '--tls-verify=false', '--platform', 'linux/arm64/v8', reference]);
    const arm64 = multi.images.find((candidate) => candidate.platform.architecture === 'arm64')!;
    const pulled = await tools.inspectImage(reference);
    expect(pulled.Architecture).toBe('arm64');
    expect(`sha256:${pulled.Id}`).toBe(arm64.config.digest);
    expect(pulled.RootFS.Layers).toEqual(diffIds(arm64));
    // podman records the index digest it pulled by and the platform image's own digest.
    expect(pulled.Digest).toBe(multi.index.digest);
    expect(pulled.RepoDigests).toEqual(expect.arrayContaining([`${berth.host}/e2e/podman-multi@${multi.index.digest}`, `${berth.host}/e2e/podman-multi@${arm64.manifest.digest}`]));
  });

  it('creates a manifest list from an index in Berth and pushes it with every image to another repository', async () => {
    await skopeoCopy(source.reference('multi'), `docker://${berth.host}/e2e/podman-list-source:v1`, { all: true });
    const tools = await containerTools(await testDirs.make('pm-list'), berth.host);
    await tools.podman(['manifest', 'create', 'e2e-list']);
    await tools.podman(['manifest', 'add', '--all', '--tls-verify=false', 'e2e-list', `docker://${berth.host}/e2e/podman-list-source:v1`]);
    const digestFile = path.join(await testDirs.make('pm-list-digest'), 'digest');
    await tools.podman(['manifest', 'push', '--all', '--tls-verify=false', '--digestfile', digestFile, 'e2e-list', `docker://${berth.host}/e2e/podman-list:v1`]);
    const pushedDigest = (await readFile(digestFile, 'utf8')).trim();

    // podman serialises the list itself; whatever its bytes, Berth must serve them under that digest.
    const served = await getManifest(berth.url, 'e2e/podman-list', 'v1');
    expect(served.status).toBe(200);
    expect(served.headers.get('docker-content-digest')).toBe(pushedDigest);
    expect(sha256(served.bytes)).toBe(pushedDigest);
    const list = JSON.parse(served.bytes.toString('utf8')) as { manifests: Array<{ digest: string; platform: { architecture: string } }> };
    expect(list.manifests.map((entry) => entry.digest).sort()).toEqual(multi.images.map((image) => image.manifest.digest).sort());
    // The images went along with the list (pushed or mounted), each readable by digest in the new repository.
    for (const image of multi.images) await expectManifest(berth.url, 'e2e/podman-list', image.manifest.digest, image.manifest);
  });

  it('finds repositories through the catalog (podman search) and lists their tags', async () => {
    for (const [repo, tag] of [
      ['e2e/searchable/one', 'v1'],
      ['e2e/searchable/one', 'v2'],
      ['e2e/searchable/two', 'latest'],
    ] as const) {
      await skopeoCopy(source.reference('image'), `docker://${berth.host}/${repo}:${tag}`);
    }
    const tools = await containerTools(await testDirs.make('pm-search'), berth.host);
    // For a registry other than Docker Hub, podman search pages through /v2/_catalog and keeps names containing the term.
    const found = await tools.podman(['search', '--tls-verify=false', '--format', '{{.Name}}', `${berth.host}/searchable`]);
    expect(found.stdout.trim().split('\n').sort()).toEqual([`${berth.host}/e2e/searchable/one`, `${berth.host}/e2e/searchable/two`]);
    const tags = await tools.podman(['search', '--tls-verify=false', '--list-tags', '--format', 'json', `${berth.host}/e2e/searchable/one`]);
    expect(JSON.parse(tags.stdout)).toEqual([{ Name: `${berth.host}/e2e/searchable/one`, Tags: ['v1', 'v2'] }]);
  });
});

describe('buildah', () => {
  it('builds an image from scratch, pushes it, and the image reads back through skopeo and buildah', async () => {
    const workDir = await testDirs.make('buildah-build');
    const content = randomBytes(4096);
    const file = path.join(workDir, 'hello.bin');
    await writeFile(file, content);
    const builder = await containerTools(await testDirs.make('bh-a'), berth.host);
    const container = (await builder.buildah(['from', 'scratch'])).stdout.trim();
    await builder.buildah(['copy', container, file, '/hello.bin']);
    await builder.buildah(['config', '--label', 'made.by=berth-e2e', '--os', 'linux', '--arch', 'amd64', container]);
    const localName = `${berth.host}/e2e/buildah:v1`;
    await builder.buildah(['commit', '--format', 'oci', container, localName]);
    const digestFile = path.join(workDir, 'digest');
    await builder.buildah(['push', '--tls-verify=false', '--digestfile', digestFile, localName, `docker://${localName}`]);
    const pushedDigest = (await readFile(digestFile, 'utf8')).trim();

    const served = await pullConsistentImage(berth.url, 'e2e/buildah', 'v1');
    expect(served.digest).toBe(pushedDigest);
    expect(served.layers).toHaveLength(1);
    expect((await readTarFiles(served.layers[0]!)).get('hello.bin')?.equals(content)).toBe(true);

    expect(sha256(await skopeoRawManifest(`docker://${localName}`))).toBe(pushedDigest);
    const inspected = JSON.parse((await skopeo(['inspect', '--tls-verify=false', `docker://${localName}`])).stdout) as {
      Digest: string;
      Labels: Record<string, string>;
      Layers: string[];
      Architecture: string;
    };
    expect(inspected.Digest).toBe(pushedDigest);
    expect(inspected.Labels['made.by']).toBe('berth-e2e');
    expect(inspected.Layers).toEqual(served.manifest.layers.map((layer) => layer.digest));

    // A fresh store pulls it and sees the file (vfs: the container root is a plain folder).
    const reader = await containerTools(await testDirs.make('bh-b'), berth.host);
    await reader.buildah(['pull', '--tls-verify=false', localName]);
    const pulledDigest = (await reader.buildah(['inspect', '--type', 'image', '--format', '{{.FromImageDigest}}', localName])).stdout.trim();
    expect(pulledDigest).toBe(pushedDigest);
    const working = (await reader.buildah(['from', localName])).stdout.trim();
    const mountPoint = (await reader.buildah(['mount', working])).stdout.trim();
    try {
      expect((await readFile(path.join(mountPoint, 'hello.bin'))).equals(content)).toBe(true);
    } finally {
      await reader.buildah(['umount', working]);
      await reader.buildah(['rm', working]);
    }
  });
});
