/**
 * Garbage collection with two replicas on one bucket and one Redis: a collection on A never
 * removes what B just uploaded for a manifest it has yet to push (the gcDelay rule holds across
 * replicas, by the objects' S3 times), and removes it once it is older and still unreferenced.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBlob, pushImage } from '../helpers/registry-api.js';
import { remoteStorageConfig, startBerth, type TestServer } from '../helpers/server.js';
import { emptyAndDeleteBucket } from '../helpers/services.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256 } from '../helpers/oci.js';

const HOUR = 3_600_000;
let a: TestServer;
let b: TestServer;
let bucket: string;

beforeAll(async () => {
  const remote = await remoteStorageConfig();
  bucket = remote.bucket;
  const config = { storage: { ...remote.storage, gcDelay: '1h', gcInterval: '24h' } };
  // The storage keys are in `config`: backend 'fs' only stops startBerth making a bucket of its own.
  [a, b] = await Promise.all([startBerth({ backend: 'fs', config }), startBerth({ backend: 'fs', config })]);
});

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  if (bucket) await emptyAndDeleteBucket(bucket);
});

describe('garbage collection across replicas', () => {
  it("keeps B's fresh blobs and upload sessions through A's collection, then collects them once old", async () => {
    const image = await pushImage(b.url, 'rgc/app', 'v1');
    // B uploads the layer of its next image and opens a session; the manifest is not pushed yet.
    const layer = randomBytes(50_000);
    const layerDigest = await pushBlob(b.url, 'rgc/app', layer);
    const session = await fetch(`${b.url}/v2/rgc/app/blobs/uploads/`, { method: 'POST' });
    expect(session.status).toBe(202);

    const now = await a.app.maintenance.gc.collect(Date.now());
    expect(now.repositories.find((report) => report.repository === 'rgc/app')).toMatchObject({ manifests: [], blobs: [], uploads: [] });
    expect((await fetch(`${a.url}/v2/rgc/app/blobs/${layerDigest}`, { method: 'HEAD' })).status).toBe(200);

    // B's push goes on: the manifest finds its blobs on either replica.
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layerDigest] } }));
    const configDigest = await pushBlob(b.url, 'rgc/app', config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
        layers: [{ mediaType: OCI_LAYER, digest: layerDigest, size: layer.length }],
      }),
    );
    expect((await fetch(`${a.url}/v2/rgc/app/manifests/v2`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: manifest })).status).toBe(201);

    // Two hours on, only what no manifest references goes: a stray blob and the open session.
    const stray = await pushBlob(b.url, 'rgc/app', randomBytes(1000));
    const later = await a.app.maintenance.gc.collect(Date.now() + 2 * HOUR);
    const report = later.repositories.find((entry) => entry.repository === 'rgc/app')!;
    expect(report.blobs.map((blob) => blob.digest)).toEqual([stray]);
    expect(report.uploads).toHaveLength(1);
    for (const digest of [layerDigest, configDigest, sha256(image.config), ...image.layers.map((bytes) => sha256(bytes))]) {
      expect((await fetch(`${b.url}/v2/rgc/app/blobs/${digest}`, { method: 'HEAD' })).status, digest).toBe(200);
    }
    expect((await fetch(`${b.url}/v2/rgc/app/blobs/${stray}`, { method: 'HEAD' })).status).toBe(404);
    expect((await fetch(`${b.url}${session.headers.get('location')}`)).status).toBe(404);
  });
});
