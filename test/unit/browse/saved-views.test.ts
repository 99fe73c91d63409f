/**
 * The repository page's saved view (issue 15, cold pages): a restarted process shows a repository
 * from the view saved for its index version, reading neither index.json nor the facts record; a
 * saved view of another version (a tag pushed or deleted since), a torn chunk or a foreign header
 * is not used, so a page never shows a tag the index does not hold. Over real FsStores in a
 * scratch folder, pushed through the registry's own services.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { TagSort } from '../../../src/browse/repository-insights.js';
import { CHUNK_ROWS } from '../../../src/browse/tag-table.js';
import { bucketOf, tagBucketOf } from '../../../src/browse/image-source.js';
import { digestOf } from '../../../src/oci/digest.js';
import type { Descriptor } from '../../../src/oci/manifest.js';
import { REF_NAME } from '../../../src/storage/store.js';
import { type Registry } from '../../../src/registry/registry.js';
import { FsStore } from '../../../src/storage/fs-store.js';
import { pushStoreImage, putStoreBlob } from '../../helpers/store-images.js';
import { OCI_EMPTY, OCI_INDEX, OCI_MANIFEST } from '../../helpers/oci.js';
import { scratchDir } from '../../helpers/scratch.js';
import { closeReadModels, openReadModels, type OpenedReadModels } from '../../helpers/read-models.js';

afterAll(closeReadModels);
const open = openReadModels;

type Opened = OpenedReadModels;

/** Rewrites a derived record of the storage at `root` as another writer would. */
async function damage(root: string, key: string, change: (text: string) => string) {
  const store = new FsStore(root, { dedupe: false });
  await store.replaceDerived(key, change(await store.readDerived(key)));
  await store.close();
}

/** A process started on `root` shows `expected` as the page `options`, from the index. */
async function computedAgain(root: string, options: PageOptions, expected: unknown) {
  const reader = open(root);
  expect(await reader.insights.repository('team/app', options)).toEqual(expected);
  expect(reader.indexReads).toContain('team/app');
  // Saved again, whole, before the next damage (no save left waiting to race it).
  await reader.insights.close();
}
type PageOptions = { page: number; perPage: number; sort?: TagSort; query?: string };
const PAGES: PageOptions[] = [
  { page: 1, perPage: 2 },
  { page: 2, perPage: 2, sort: 'name' },
  { page: 1, perPage: 50, sort: '-name' },
  { page: 1, perPage: 50, sort: '-pushed', query: 'V1' },
];

/** A manifest pushed by digest or tag (an index, a signature), as the registry validates it. */
async function pushDocument(registry: Registry, reference: string | undefined, document: object, mediaType: string) {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, ...document }));
  const digest = digestOf(bytes);
  await registry.manifests.put('team/app', reference === undefined ? { digest } : { tag: reference }, bytes, mediaType, { mayMoveTag: true });
  return digest.value;
}

/**
 * What the image page is tried on: an index of v1 and v2 (`multi`), a signature of v3 (a referrer),
 * cosign's tag-scheme tag of v4; returns the references to show.
 */
async function attachments(opened: Opened): Promise<Array<{ tag: string } | { digest: string }>> {
  const { store, registry } = opened;
  const entry = async (tag: string) => (await store.readIndex('team/app')).manifests.findLast((candidate) => candidate.annotations?.[REF_NAME] === tag)!;
  const [v1, v2, v3, v4] = await Promise.all(['v1', 'v2', 'v3', 'v4'].map(entry));
  const child = (image: Descriptor, architecture: string) => ({ mediaType: image.mediaType, digest: image.digest, size: image.size, platform: { os: 'linux', architecture } });
  await pushDocument(registry, 'multi', { manifests: [child(v1!, 'arm64'), child(v2!, 'amd64')] }, OCI_INDEX);
  const empty = await putStoreBlob(store, 'team/app', Buffer.from('{}'));
  const signature = {
    artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
    config: { mediaType: OCI_EMPTY, digest: empty.value, size: 2 },
    layers: [{ mediaType: OCI_EMPTY, digest: empty.value, size: 2 }],
  };
  await pushDocument(registry, undefined, { ...signature, subject: { mediaType: v3!.mediaType, digest: v3!.digest, size: v3!.size } }, OCI_MANIFEST);
  await pushDocument(registry, `sha256-${v4!.digest.slice('sha256:'.length)}.sig`, signature, OCI_MANIFEST);
  return [{ tag: 'multi' }, { tag: 'v1' }, { digest: v2!.digest }, { tag: 'v3' }, { digest: v4!.digest }, { tag: `sha256-${v4!.digest.slice('sha256:'.length)}.sig` }];
}

/** `team/app` with tags v1..v<count>, shown once (its view computed) and saved; returns the pages and images as shown. */
async function shown(count: number, images = false) {
  const root = await scratchDir('saved-views');
  const first = open(root);
  for (let i = 1; i <= count; i++) await pushStoreImage(first.store, first.registry, 'team/app', `v${i}`, i % 2 === 0 ? 'amd64' : 'arm64');
  const references = images ? await attachments(first) : [];
  const pages = await Promise.all(PAGES.map((options) => first.insights.repository('team/app', options)));
  const details = await Promise.all(references.map((reference) => first.insights.image('team/app', reference)));
  // As a server stops: the store folds its journals (index.json's version changes), then the views are saved.
  await first.store.close();
  await first.insights.close();
  return { root, first, pages, references, details };
}

const tagsOf = async (reader: Opened, options: PageOptions = { page: 1, perPage: 500 }) => (await reader.insights.repository('team/app', options)).tags.items.map((tag) => tag.tag);

describe('saved repository views', () => {
  it('show a repository after a restart without reading its index or its facts', async () => {
    const { root, pages } = await shown(5);
    const restarted = open(root);
    for (const [i, options] of PAGES.entries()) expect(await restarted.insights.repository('team/app', options)).toEqual(pages[i]);
    expect(await restarted.insights.summary('team/app')).toEqual({ name: 'team/app', tagCount: 5, size: pages[0]!.size, lastPush: pages[0]!.lastPush });
    expect(restarted.indexReads).toEqual([]);
    // A small view is one record: never the facts record (key 'team/app').
    expect(restarted.recordReads).toEqual(['team/app#view']);
  });

  it('read only the chunk a page of a big repository shows, and no chunk torn or of another version', async () => {
    const { root, pages, references, details } = await shown(CHUNK_ROWS + 3, true);
    expect(pages[0]!.tagCount).toBe(CHUNK_ROWS + 5);
    // The image page from the saved digest buckets, the same as computed: an index with its
    // platforms' sizes, a referrer's badge, a cosign tag's badge, by tag and by digest.
    const images = open(root);
    for (const [i, reference] of references.entries()) expect(await images.insights.image('team/app', reference)).toEqual(details[i]);
    expect(details[0]).toMatchObject({ kind: 'index', pulled: { platform: { os: 'linux', architecture: 'amd64' } } });
    expect(details[0]!.children.every((child) => child.totalSize! > 0)).toBe(true);
    expect(details[1]!.parents).toEqual([details[0]!.digest]);
    expect(details[3]!.attachments.map((attachment) => attachment.label)).toEqual(['Signed (cosign)']);
    expect(details[4]!.attachments.map((attachment) => attachment.label)).toEqual(['Signed (cosign)']);
    expect(images.indexReads).toEqual([]);
    await expect(images.insights.image('team/app', { tag: 'v0' })).rejects.toMatchObject({ key: 'MANIFEST_UNKNOWN' });
    await expect(images.insights.image('team/app', { digest: `sha256:${'0'.repeat(64)}` })).rejects.toMatchObject({ key: 'MANIFEST_UNKNOWN' });
    expect(images.indexReads).toEqual([]);
    // A digest bucket of another version: that image is computed from the index.
    const { b } = JSON.parse(await images.store.readDerived('team/app#view')) as { b: number };
    await damage(root, `team/app#viewd${bucketOf(details[3]!.digest, b)}`, (text) => text.replace(/^\{"v":"[^"]*"\}/, '{"v":"another version"}'));
    const damaged = open(root);
    expect(await damaged.insights.image('team/app', references[3]!)).toEqual(details[3]);
    expect(damaged.indexReads).toContain('team/app');
    await damaged.insights.close();
    // ...and saved again, so the next start uses it.
    const healed = open(root);
    expect(await healed.insights.image('team/app', references[3]!)).toEqual(details[3]);
    expect(healed.indexReads).toEqual([]);
    // A tag bucket of another version: the same.
    await damage(root, `team/app#viewg${tagBucketOf('v1', b)}`, (text) => text.replace(/^\{"v":"[^"]*"\}/, '{"v":"another version"}'));
    const tagDamaged = open(root);
    expect(await tagDamaged.insights.image('team/app', references[1]!)).toEqual(details[1]);
    expect(tagDamaged.indexReads).toContain('team/app');
    await tagDamaged.insights.close();

    const restarted = open(root);
    // Oldest first: the last rows newest first, in the second chunk.
    const oldestFirst: PageOptions = { page: 1, perPage: 2, sort: '-pushed' };
    const oldest = await restarted.insights.repository('team/app', oldestFirst);
    expect(oldest.tags.items.map((tag) => tag.tag)).toEqual(['v1', 'v2']);
    expect(oldest.tags.total).toBe(CHUNK_ROWS + 4);
    expect(restarted.recordReads).toEqual(['team/app#view', 'team/app#viewp1']);
    expect(restarted.indexReads).toEqual([]);
    // By tag, from the chunks of that order; to filter, the tags.
    expect((await restarted.insights.repository('team/app', PAGES[1]!)).tags.items).toEqual(pages[1]!.tags.items);
    expect((await restarted.insights.repository('team/app', PAGES[3]!)).tags.items).toEqual(pages[3]!.tags.items);
    expect(restarted.recordReads.slice(2).sort()).toEqual(['team/app#viewn0', 'team/app#viewp0', 'team/app#viewt']);
    expect(restarted.indexReads).toEqual([]);

    await damage(root, 'team/app#viewp1', (text) => text.slice(0, -20));
    await computedAgain(root, oldestFirst, oldest);
    await damage(root, 'team/app#viewp1', (text) => text.replace(/^\{"v":"[^"]*"\}/, '{"v":"another version"}'));
    await computedAgain(root, oldestFirst, oldest);
    await damage(root, 'team/app#viewt', (text) => text.replace(/"v":"[^"]*"/, '"v":"another version"'));
    await computedAgain(root, PAGES[3]!, pages[3]);
  });

  it('are not used once the index moved on: a pushed tag shows, a deleted tag never does', async () => {
    const { root } = await shown(3);
    // Another process changes the repository; the saved view is of the version before.
    const writer = open(root);
    await writer.registry.manifests.delete('team/app', { tag: 'v2' }, { detectCollision: false });
    await pushStoreImage(writer.store, writer.registry, 'team/app', 'v4');
    await pushStoreImage(writer.store, writer.registry, 'team/app', 'v5');
    await writer.store.close();
    const restarted = open(root);
    // The figures first (the repository list's row): not those saved.
    expect((await restarted.insights.summary('team/app')).tagCount).toBe(4);
    expect(await tagsOf(restarted)).toEqual(['v5', 'v4', 'v3', 'v1']);
    expect(await tagsOf(restarted, { page: 1, perPage: 50, sort: '-pushed', query: 'V' })).toEqual(['v1', 'v3', 'v4', 'v5']);
    expect(restarted.indexReads).toContain('team/app');
    await expect(restarted.insights.image('team/app', { tag: 'v2' })).rejects.toMatchObject({ key: 'MANIFEST_UNKNOWN' });
    // Saved again for the version shown: the next start reads it, and it is the new one.
    await restarted.insights.close();
    const again = open(root);
    expect(await tagsOf(again)).toEqual(['v5', 'v4', 'v3', 'v1']);
    expect(again.indexReads).toEqual([]);
  });

  it('follow a tag deleted while the process shows the repository', async () => {
    const { root } = await shown(3);
    const server = open(root);
    expect(await tagsOf(server)).toEqual(['v3', 'v2', 'v1']);
    await server.registry.manifests.delete('team/app', { tag: 'v3' }, { detectCollision: false });
    expect(await tagsOf(server)).toEqual(['v2', 'v1']);
    expect((await server.insights.summary('team/app')).tagCount).toBe(2);
  });

  it('are not used when the record is torn, a row malformed, or the header foreign', async () => {
    const { root, pages } = await shown(3);
    await damage(root, 'team/app#view', (text) => text.slice(0, -20));
    await computedAgain(root, PAGES[0]!, pages[0]);
    await damage(root, 'team/app#view', (text) => text.replace('"tag":"v3"', '"tag":3'));
    await computedAgain(root, PAGES[0]!, pages[0]);
    await damage(root, 'team/app#view', (text) => text.replace(/"v":"[^"]*"/, '"v":"another version"'));
    await computedAgain(root, PAGES[0]!, pages[0]);
    await damage(root, 'team/app#view', () => '{"v":');
    await computedAgain(root, PAGES[0]!, pages[0]);
  });
});
