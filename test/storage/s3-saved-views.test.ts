/**
 * The repository page's saved view between S3 replicas (issue 15, cold pages), on the run's S3: a
 * view saved by one replica is used by another (or a restarted one) for the same index version
 * (its ETag), and not once a replica pushed or deleted a tag: the page then shows the index as it
 * stands. The logic shared with the filesystem is in test/unit/browse/saved-views.test.ts.
 */
import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RepositoryInsights } from '../../src/browse/repository-insights.js';
import { LocalCoordination } from '../../src/coordination/local-coordination.js';
import { Registry } from '../../src/registry/registry.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { S3Store } from '../../src/storage/s3-store.js';
import { createBucket, emptyAndDeleteBucket, s3Service } from '../helpers/services.js';
import { pushStoreImage } from '../helpers/store-images.js';

const clients: S3Client[] = [];
let bucket = '';
beforeAll(async () => {
  bucket = await createBucket('savedviews');
});
afterAll(async () => {
  for (const client of clients.splice(0)) client.destroy();
  await emptyAndDeleteBucket(bucket);
});

/** A replica on the storage at `rootDirectory`: its own client, store, registry and read models, counting index reads. */
function replica(rootDirectory: string) {
  const { endpoint, region, accessKey, secretKey } = s3Service();
  const settings = { bucket, rootDirectory, region, endpoint, forcePathStyle: true, accessKey, secretKey, skipVerify: false };
  const client = createS3Client(settings);
  clients.push(client);
  const store = new S3Store({ client, settings, coordination: new LocalCoordination() });
  const indexReads: string[] = [];
  const readIndex = store.readIndex.bind(store);
  store.readIndex = async (name) => {
    indexReads.push(name);
    return readIndex(name);
  };
  const registry = new Registry(store);
  return { store, registry, insights: new RepositoryInsights(store, registry.catalog), indexReads };
}

const tagsOf = async (reader: ReturnType<typeof replica>) => (await reader.insights.repository('team/app', { page: 1, perPage: 50 })).tags.items.map((tag) => tag.tag);

describe('saved repository views on S3', () => {
  it('are used by another replica for the same ETag, and not once a replica changed the index', async () => {
    const root = `s3/${randomBytes(6).toString('hex')}`;
    const a = replica(root);
    for (const tag of ['v1', 'v2', 'v3']) await pushStoreImage(a.store, a.registry, 'team/app', tag);
    expect(await tagsOf(a)).toEqual(['v3', 'v2', 'v1']);
    await a.insights.close();

    const b = replica(root);
    expect(await tagsOf(b)).toEqual(['v3', 'v2', 'v1']);
    expect(b.indexReads).toEqual([]);

    // A deletes a tag and pushes one: B's saved view (and the one it holds) is of the ETag before.
    await a.registry.manifests.delete('team/app', { tag: 'v2' }, { detectCollision: false });
    await pushStoreImage(a.store, a.registry, 'team/app', 'v4');
    expect(await tagsOf(b)).toEqual(['v4', 'v3', 'v1']);
    expect((await b.insights.summary('team/app')).tagCount).toBe(3);
    const restarted = replica(root);
    expect(await tagsOf(restarted)).toEqual(['v4', 'v3', 'v1']);
    expect(restarted.indexReads).toContain('team/app');
  });
});
