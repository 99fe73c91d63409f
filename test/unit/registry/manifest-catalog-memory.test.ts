/**
 * The manifest catalog caches bytes in allocations of their own size: a small Buffer sliced from
 * Node's shared pool (8 KiB slabs on Node 20, 64 KiB on 24) (what Buffer.concat of a request body gives) would keep the whole slab
 * alive while the cache counts only its length (src/registry/manifest-catalog.ts).
 */
import { describe, expect, it } from 'vitest';
import { parseDigest } from '../../../src/oci/digest.js';
import { ManifestCatalog } from '../../../src/registry/manifest-catalog.js';
import { FsStore } from '../../../src/storage/fs-store.js';

describe('ManifestCatalog memory', () => {
  it('keeps a pooled slice as a copy of its own size, with the same bytes', async () => {
    const catalog = new ManifestCatalog(new FsStore('/nonexistent-berth-root'));
    const pooled = Buffer.concat([Buffer.from('{"schemaVersion":'), Buffer.from('2}')]);
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length);
    const digest = parseDigest(`sha256:${'a'.repeat(64)}`)!;
    catalog.remember('demo/app', digest, pooled, { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: pooled.length, blobs: [], manifests: [] });
    const cached = await catalog.readBytes('demo/app', digest);
    expect(cached.equals(pooled)).toBe(true);
    expect(cached.buffer.byteLength).toBe(cached.length);
  });
});
