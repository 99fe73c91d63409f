/**
 * Assertions that a registry serves an image exactly as built: every manifest and blob by its digest,
 * with the spec's Docker-Content-Digest header, byte for byte. Shared by the e2e tests, which push
 * with real clients and then look at what Berth answers over HTTP.
 */
import { gunzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { blobsOf, isImageIndex, topManifest, type Image, type ImageIndex } from './oci-layout.js';
import { getBlob, getManifest } from './registry-api.js';
import { sha256 } from './oci.js';

/** GET `<repo>/manifests/<reference>` answers 200 with exactly `bytes`, its digest and media type. */
export async function expectManifest(url: string, repo: string, reference: string, expected: { digest: string; mediaType: string; bytes: Buffer }): Promise<void> {
  const response = await getManifest(url, repo, reference);
  expect(response.status, `GET ${repo}/manifests/${reference}`).toBe(200);
  expect(response.headers.get('docker-content-digest')).toBe(expected.digest);
  expect(response.headers.get('content-type')).toBe(expected.mediaType);
  expect(sha256(response.bytes)).toBe(expected.digest);
  expect(response.bytes.equals(expected.bytes)).toBe(true);
}

/** GET `<repo>/blobs/<digest>` answers 200 with exactly `bytes`. */
export async function expectBlob(url: string, repo: string, digest: string, bytes: Buffer): Promise<void> {
  const response = await getBlob(url, repo, digest);
  expect(response.status, `GET ${repo}/blobs/${digest}`).toBe(200);
  expect(response.headers.get('docker-content-digest')).toBe(digest);
  expect(Number(response.headers.get('content-length'))).toBe(bytes.length);
  expect(sha256(response.bytes)).toBe(digest);
  expect(response.bytes.equals(bytes)).toBe(true);
}

/**
 * The registry holds `target` under `repo:tag` exactly: the top manifest by tag and by digest, every
 * child manifest of an index by digest, and every config and layer blob.
 */
export async function expectRegistryHolds(url: string, repo: string, tag: string, target: Image | ImageIndex): Promise<void> {
  const top = topManifest(target);
  await expectManifest(url, repo, tag, top);
  await expectManifest(url, repo, top.digest, top);
  const children = isImageIndex(target) ? target.images.map((image) => image.manifest) : [];
  for (const child of children) await expectManifest(url, repo, child.digest, child);
  const manifestDigests = new Set([top.digest, ...children.map((child) => child.digest)]);
  for (const item of blobsOf(target)) {
    if (!manifestDigests.has(item.digest)) await expectBlob(url, repo, item.digest, item.bytes);
  }
}

/** `actual` (digest → bytes, as readOciLayout returns) holds exactly the blobs `expected`, byte for byte. */
export function expectSameBlobs(actual: Map<string, Buffer>, expected: Array<{ digest: string; bytes: Buffer }>): void {
  expect([...actual.keys()].sort()).toEqual(expected.map((item) => item.digest).sort());
  for (const item of expected) expect(actual.get(item.digest)?.equals(item.bytes), `bytes of ${item.digest}`).toBe(true);
}

export interface PulledImage {
  /** Docker-Content-Digest of the manifest. */
  digest: string;
  manifest: { mediaType?: string; config: { digest: string }; layers: Array<{ mediaType: string; digest: string; size: number }> };
  config: { architecture: string; os: string; rootfs: { diff_ids: string[] }; config?: { Labels?: Record<string, string> } };
  /** Each layer uncompressed, in manifest order. */
  layers: Buffer[];
}

/**
 * Pulls an image over HTTP the way a runtime would and checks it is self-consistent: the manifest
 * hashes to its Docker-Content-Digest, every blob to its descriptor's digest and size, and every
 * gunzipped layer to the config's rootfs.diff_ids entry. For images a client built or recompressed,
 * whose bytes the test cannot know in advance.
 */
export async function pullConsistentImage(url: string, repo: string, reference: string): Promise<PulledImage> {
  const response = await getManifest(url, repo, reference);
  expect(response.status, `GET ${repo}/manifests/${reference}`).toBe(200);
  const digest = response.headers.get('docker-content-digest') ?? '';
  expect(sha256(response.bytes)).toBe(digest);
  const manifest = JSON.parse(response.bytes.toString('utf8')) as PulledImage['manifest'];
  const configResponse = await getBlob(url, repo, manifest.config.digest);
  expect(configResponse.status).toBe(200);
  expect(sha256(configResponse.bytes)).toBe(manifest.config.digest);
  const config = JSON.parse(configResponse.bytes.toString('utf8')) as PulledImage['config'];
  expect(config.rootfs.diff_ids).toHaveLength(manifest.layers.length);
  const layers: Buffer[] = [];
  for (const [i, layer] of manifest.layers.entries()) {
    const blob = await getBlob(url, repo, layer.digest);
    expect(blob.status, `GET ${repo}/blobs/${layer.digest}`).toBe(200);
    expect(sha256(blob.bytes)).toBe(layer.digest);
    expect(blob.bytes.length).toBe(layer.size);
    const uncompressed = layer.mediaType.endsWith('gzip') ? gunzipSync(blob.bytes) : blob.bytes;
    expect(sha256(uncompressed), `diff_id of layer ${i}`).toBe(config.rootfs.diff_ids[i]);
    layers.push(uncompressed);
  }
  return { digest, manifest, config, layers };
}
