import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { storedFiles } from '../helpers/stored-files.js';
import { errorCode, json, pushBlob, pushImage } from '../helpers/registry-api.js';
import { DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V1_SIGNED, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, sha256 } from '../helpers/oci.js';

let server: TestServer;
beforeAll(async () => {
  server = await startBerth();
});
afterAll(async () => server.close());

const putManifest = (repo: string, reference: string, body: string | Buffer, contentType = OCI_MANIFEST) =>
  fetch(`${server.url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body, headers: { 'content-type': contentType } });

describe('manifests', () => {
  it('PUT by tag, then GET and HEAD by tag and digest return the exact bytes', async () => {
    const image = await pushImage(server.url, 'mf/basic', 'v1');
    for (const reference of ['v1', image.digest]) {
      const get = await fetch(`${server.url}/v2/mf/basic/manifests/${reference}`);
      expect(get.status).toBe(200);
      expect(get.headers.get('content-type')).toBe(OCI_MANIFEST);
      expect(get.headers.get('docker-content-digest')).toBe(image.digest);
      expect(Buffer.from(await get.arrayBuffer()).equals(image.manifest)).toBe(true);
      const head = await fetch(`${server.url}/v2/mf/basic/manifests/${reference}`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe(String(image.manifest.length));
      expect(head.headers.get('docker-content-digest')).toBe(image.digest);
    }
    // zot's layout: the tag is an annotation in index.json, the bytes a blob.
    const stored = storedFiles(server);
    const index = JSON.parse((await stored.read('mf/basic/index.json')).toString('utf8'));
    expect(index.manifests).toEqual([
      {
        mediaType: OCI_MANIFEST,
        digest: image.digest,
        size: image.manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': 'v1', 'dev.berth.pushed': expect.stringMatching(/^\d{4}-\d\d-\d\dT/) },
      },
    ]);
    expect((await stored.read(`mf/basic/blobs/sha256/${image.digest.slice(7)}`)).equals(image.manifest)).toBe(true);
    expect(JSON.parse((await stored.read('mf/basic/oci-layout')).toString('utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
  });

  it('keeps bytes exactly as pushed (whitespace, key order)', async () => {
    const image = await pushImage(server.url, 'mf/bytes', 'a');
    const document = JSON.parse(image.manifest.toString());
    const odd = Buffer.from(`{  "layers": ${JSON.stringify(document.layers)},\n "config": ${JSON.stringify(document.config)}, "schemaVersion": 2 }\n`);
    const put = await putManifest('mf/bytes', 'odd', odd);
    expect(put.status).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(sha256(odd));
    expect(put.headers.get('location')).toBe(`/v2/mf/bytes/manifests/${sha256(odd)}`);
    const get = await fetch(`${server.url}/v2/mf/bytes/manifests/odd`);
    expect(Buffer.from(await get.arrayBuffer()).equals(odd)).toBe(true);
  });

  it('PUT by digest checks the digest', async () => {
    const image = await pushImage(server.url, 'mf/digest', 'x');
    expect((await putManifest('mf/digest', image.digest, image.manifest)).status).toBe(201);
    const wrong = await putManifest('mf/digest', sha256('other'), image.manifest);
    expect(wrong.status).toBe(400);
    expect(await errorCode(wrong)).toBe('DIGEST_INVALID');
  });

  it('refuses a manifest whose blobs are missing', async () => {
    const config = await pushBlob(server.url, 'mf/missing', Buffer.from('{}'));
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config, size: 2 },
      layers: [{ mediaType: OCI_LAYER, digest: sha256('nope'), size: 4 }],
    });
    const response = await putManifest('mf/missing', 'v1', body);
    expect(response.status).toBe(400);
    const answer = await json(response);
    expect(answer.errors[0].code).toBe('MANIFEST_BLOB_UNKNOWN');
    expect(answer.errors[0].detail.digests).toEqual([sha256('nope')]);
  });

  it('refuses an index whose child manifests are missing, and accepts it once they exist', async () => {
    const image = await pushImage(server.url, 'mf/index', 'amd64');
    const index = (digest: string) =>
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest, size: image.manifest.length, platform: { architecture: 'amd64', os: 'linux' } }] });
    const missing = await putManifest('mf/index', 'multi', index(sha256('absent')), OCI_INDEX);
    expect(missing.status).toBe(400);
    expect(await errorCode(missing)).toBe('MANIFEST_BLOB_UNKNOWN');
    const ok = await putManifest('mf/index', 'multi', index(image.digest), OCI_INDEX);
    expect(ok.status).toBe(201);
    const get = await fetch(`${server.url}/v2/mf/index/manifests/multi`);
    expect(get.headers.get('content-type')).toBe(OCI_INDEX);
  });

  it('accepts Docker schema 2 manifests and manifest lists with their media types', async () => {
    const image = await pushImage(server.url, 'mf/docker', 'base');
    const doc = JSON.parse(image.manifest.toString());
    const docker = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { ...doc.config, mediaType: DOCKER_CONFIG },
      layers: doc.layers.map((layer: object) => ({ ...layer, mediaType: DOCKER_LAYER_GZIP })),
    });
    const put = await putManifest('mf/docker', 'd', docker, DOCKER_MANIFEST);
    expect(put.status).toBe(201);
    const list = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST_LIST,
      manifests: [{ mediaType: DOCKER_MANIFEST, digest: sha256(docker), size: docker.length, platform: { architecture: 'amd64', os: 'linux' } }],
    });
    expect((await putManifest('mf/docker', 'list', list, DOCKER_MANIFEST_LIST)).status).toBe(201);
    const head = await fetch(`${server.url}/v2/mf/docker/manifests/list`, { method: 'HEAD' });
    expect(head.headers.get('content-type')).toBe(DOCKER_MANIFEST_LIST);
  });

  it.each([
    ['not JSON', '{', OCI_MANIFEST],
    ['not an object', '[1]', OCI_MANIFEST],
    ['wrong schemaVersion', JSON.stringify({ schemaVersion: 1, config: {}, layers: [] }), OCI_MANIFEST],
    ['mediaType differs from Content-Type', JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }), OCI_MANIFEST],
    ['config without digest', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'a/b', size: 1 }, layers: [] }), OCI_MANIFEST],
    [
      'layer size not a number',
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'a/b', size: 1, digest: sha256('x') }, layers: [{ mediaType: 'a/b', size: 'big', digest: sha256('y') }] }),
      OCI_MANIFEST,
    ],
    ['unknown media type', JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST_V1_SIGNED }), DOCKER_MANIFEST_V1_SIGNED],
  ])('refuses %s with MANIFEST_INVALID', async (_why, body, type) => {
    const response = await putManifest('mf/invalid', 'v1', body, type);
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe('MANIFEST_INVALID');
  });

  it('refuses manifests over 4 MiB with 413', async () => {
    const response = await putManifest('mf/big', 'v1', Buffer.alloc(4 * 1024 * 1024 + 1, 32));
    expect(response.status).toBe(413);
    expect(await errorCode(response)).toBe('SIZE_INVALID');
  });

  it.each([
    ['GET', 'mf/none/manifests/latest', 404, 'NAME_UNKNOWN'],
    ['GET', 'mf/basic/manifests/nope', 404, 'MANIFEST_UNKNOWN'],
    ['HEAD', 'mf/basic/manifests/nope', 404, undefined],
    ['GET', `mf/basic/manifests/sha256:${'0'.repeat(64)}`, 404, 'MANIFEST_UNKNOWN'],
    ['GET', 'mf/basic/manifests/sha256:xyz', 400, 'DIGEST_INVALID'],
    ['GET', 'mf/basic/manifests/-bad', 404, 'MANIFEST_UNKNOWN'],
    ['PUT', 'mf/basic/manifests/-bad', 400, 'MANIFEST_INVALID'],
    ['GET', 'Mf/basic/manifests/v1', 400, 'NAME_INVALID'],
    ['DELETE', 'mf/basic/manifests/nope', 404, 'MANIFEST_UNKNOWN'],
  ])('%s /v2/%s → %d %s', async (method, target, status, code) => {
    const response = await fetch(`${server.url}/v2/${target}`, { method });
    expect(response.status).toBe(status);
    if (code) expect(await errorCode(response)).toBe(code);
  });

  it('DELETE by tag removes only the tag; DELETE by digest removes the manifest', async () => {
    const image = await pushImage(server.url, 'mf/delete', 'one');
    expect((await putManifest('mf/delete', 'two', image.manifest)).status).toBe(201);
    const byTag = await fetch(`${server.url}/v2/mf/delete/manifests/one`, { method: 'DELETE' });
    expect(byTag.status).toBe(202);
    expect((await fetch(`${server.url}/v2/mf/delete/manifests/one`)).status).toBe(404);
    expect((await fetch(`${server.url}/v2/mf/delete/manifests/two`)).status).toBe(200);
    expect((await fetch(`${server.url}/v2/mf/delete/manifests/${image.digest}`, { method: 'DELETE' })).status).toBe(202);
    expect((await fetch(`${server.url}/v2/mf/delete/manifests/two`)).status).toBe(404);
    expect((await fetch(`${server.url}/v2/mf/delete/manifests/${image.digest}`)).status).toBe(404);
    expect(await (await fetch(`${server.url}/v2/mf/delete/tags/list`)).json()).toEqual({ name: 'mf/delete', tags: [] });
  });

  it('a tag that moves leaves the old manifest reachable by digest', async () => {
    const first = await pushImage(server.url, 'mf/move', 'latest');
    const second = await pushImage(server.url, 'mf/move', 'latest');
    expect((await fetch(`${server.url}/v2/mf/move/manifests/latest`)).headers.get('docker-content-digest')).toBe(second.digest);
    expect((await fetch(`${server.url}/v2/mf/move/manifests/${first.digest}`)).status).toBe(200);
  });

  it('refuses to delete a blob that a manifest uses', async () => {
    const image = await pushImage(server.url, 'mf/inuse', 'v1');
    const response = await fetch(`${server.url}/v2/mf/inuse/blobs/${sha256(image.layers[0]!)}`, { method: 'DELETE' });
    expect(response.status).toBe(405);
    expect(await errorCode(response)).toBe('DENIED');
    expect((await fetch(`${server.url}/v2/mf/inuse/blobs/${sha256(image.layers[0]!)}`, { method: 'HEAD' })).status).toBe(200);
  });
});

describe('referrers', () => {
  it('lists manifests whose subject is the digest, filtered by artifactType', async () => {
    const subject = await pushImage(server.url, 'rf/app', 'v1');
    const descriptor = { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.manifest.length };
    const signature = await pushImage(server.url, 'rf/app', 'sig', { subject: descriptor, artifactType: 'application/vnd.example.signature' });
    const sbom = await pushImage(server.url, 'rf/app', 'sbom', { subject: descriptor, artifactType: 'application/spdx+json' });
    const put = await putManifest('rf/app', 'sig2', signature.manifest);
    expect(put.headers.get('oci-subject')).toBe(subject.digest);

    const all = await fetch(`${server.url}/v2/rf/app/referrers/${subject.digest}`);
    expect(all.status).toBe(200);
    expect(all.headers.get('content-type')).toBe(OCI_INDEX);
    expect(all.headers.get('oci-filters-applied')).toBeNull();
    const body = await json(all);
    expect(body.schemaVersion).toBe(2);
    expect(body.mediaType).toBe(OCI_INDEX);
    expect(body.manifests.map((m: { digest: string }) => m.digest).sort()).toEqual([signature.digest, sbom.digest].sort());
    expect(body.manifests.find((m: { digest: string }) => m.digest === sbom.digest)).toEqual({
      mediaType: OCI_MANIFEST,
      digest: sbom.digest,
      size: sbom.manifest.length,
      artifactType: 'application/spdx+json',
    });

    const filtered = await fetch(`${server.url}/v2/rf/app/referrers/${subject.digest}?artifactType=application/spdx%2Bjson`);
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    expect((await json(filtered)).manifests.map((m: { digest: string }) => m.digest)).toEqual([sbom.digest]);
  });

  it('answers an empty index for an unknown subject, and DIGEST_INVALID for a bad one', async () => {
    const empty = await fetch(`${server.url}/v2/rf/app/referrers/${sha256('nothing')}`);
    expect(empty.status).toBe(200);
    expect(await empty.json()).toEqual({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
    const bad = await fetch(`${server.url}/v2/rf/app/referrers/sha256:bad`);
    expect(bad.status).toBe(400);
    expect(await errorCode(bad)).toBe('DIGEST_INVALID');
  });
});

describe('lying manifests', () => {
  const image = async (repo: string) => {
    const pushed = await pushImage(server.url, repo, 'honest', { layers: 2 });
    return { pushed, document: JSON.parse(pushed.manifest.toString()) };
  };
  const refused = async (response: Response, descriptor: string) => {
    expect(response.status).toBe(400);
    const body = await json(response);
    expect(body.errors[0].code).toBe('MANIFEST_INVALID');
    expect(body.errors[0].detail).toMatchObject({ descriptor });
    expect(body.errors[0].detail.reason).toContain(descriptor);
  };

  it('refuses a layer, config or child descriptor whose size is not the stored size', async () => {
    const { pushed, document } = await image('mf/lies');
    const layer = structuredClone(document);
    layer.layers[1].size += 1;
    await refused(await putManifest('mf/lies', 'layer', JSON.stringify(layer)), 'layers[1]');
    const config = structuredClone(document);
    config.config.size -= 1;
    await refused(await putManifest('mf/lies', 'config', JSON.stringify(config)), 'config');
    const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: pushed.digest, size: pushed.manifest.length + 7 }] };
    await refused(await putManifest('mf/lies', 'index', JSON.stringify(index), OCI_INDEX), 'manifests[0]');
    for (const tag of ['layer', 'config', 'index']) expect((await fetch(`${server.url}/v2/mf/lies/manifests/${tag}`)).status).toBe(404);
  });

  it('refuses an image config that is not a JSON object, and accepts any config of an artifact', async () => {
    const { document } = await image('mf/configs');
    for (const [i, bytes] of [Buffer.from('not json'), Buffer.from('[1, 2]'), Buffer.from('null'), Buffer.from('"text"')].entries()) {
      await pushBlob(server.url, 'mf/configs', bytes);
      const manifest = { ...document, config: { mediaType: OCI_CONFIG, digest: sha256(bytes), size: bytes.length } };
      await refused(await putManifest('mf/configs', `bad-${i}`, JSON.stringify(manifest)), 'config');
      const docker = { ...manifest, mediaType: DOCKER_MANIFEST, config: { ...manifest.config, mediaType: DOCKER_CONFIG } };
      await refused(await putManifest('mf/configs', `docker-${i}`, JSON.stringify(docker), DOCKER_MANIFEST), 'config');
    }
    const helm = Buffer.from('not json either');
    await pushBlob(server.url, 'mf/configs', helm);
    const artifact = { ...document, config: { mediaType: 'application/vnd.example.config.v1+octet-stream', digest: sha256(helm), size: helm.length } };
    expect((await putManifest('mf/configs', 'artifact', JSON.stringify(artifact))).status).toBe(201);
  });
});
