/**
 * The UI's read model takes manifests from the registry's manifest catalog, the one manifest cache,
 * and that cache stays repository-scoped (CONVENTIONS habit 12): a digest the catalog holds for one
 * repository is unknown in another. Over a real FsStore in a scratch folder, pushed through the
 * registry's own services.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { RepositoryInsights } from '../../../src/browse/repository-insights.js';
import { Registry } from '../../../src/registry/registry.js';
import { FsStore } from '../../../src/storage/fs-store.js';
import { pushStoreImage } from '../../helpers/store-images.js';
import { scratchDir } from '../../helpers/scratch.js';

/** Stores to close after the tests: each keeps its index journals open between pushes. */
const opened: FsStore[] = [];
afterAll(() => Promise.all(opened.map((store) => store.close())));

/** A registry whose store counts the manifest reads that reach it. */
async function open() {
  const store = new FsStore(await scratchDir('insights'), { dedupe: false });
  opened.push(store);
  const reads: string[] = [];
  const readSmallBlob = store.readSmallBlob.bind(store);
  store.readSmallBlob = async (name, digest) => {
    reads.push(`${name}@${digest.value}`);
    return readSmallBlob(name, digest);
  };
  const registry = new Registry(store);
  return { store, registry, reads, insights: new RepositoryInsights(store, registry.catalog) };
}

describe('RepositoryInsights over the manifest catalog', () => {
  it('shows a pushed manifest from the catalog cache, without reading it from the store again', async () => {
    const { store, registry, reads, insights } = await open();
    const image = await pushStoreImage(store, registry, 'team/app', 'v1');
    const detail = await insights.image('team/app', { tag: 'v1' });
    expect(detail).toMatchObject({ digest: image.digest, kind: 'image', totalSize: image.size, tags: ['v1'] });
    expect(reads.filter((read) => read.endsWith(image.digest))).toEqual([]);
    // What the UI reads, the registry reads from the same cache: one store read between them.
    const fresh = await open();
    const again = await pushStoreImage(fresh.store, fresh.registry, 'team/app', 'v1');
    const cold = new Registry(fresh.store);
    const coldInsights = new RepositoryInsights(fresh.store, cold.catalog);
    await coldInsights.image('team/app', { tag: 'v1' });
    await cold.manifests.get('team/app', { tag: 'v1' });
    expect(fresh.reads.filter((read) => read.endsWith(again.digest))).toEqual([`team/app@${again.digest}`]);
  });

  it('keeps the cache repository-scoped: a digest cached for one repository is unknown in another', async () => {
    const { store, registry, insights } = await open();
    const secret = await pushStoreImage(store, registry, 'secret/app', 'v1');
    await pushStoreImage(store, registry, 'other/app', 'v1');
    await insights.image('secret/app', { digest: secret.digest });
    await expect(insights.image('other/app', { digest: secret.digest })).rejects.toMatchObject({ key: 'MANIFEST_UNKNOWN' });
  });
});
