/**
 * The UI's read models survive a restart and follow other writers (issue 15, scale): a manifest's
 * facts are read once and kept in the repository's derived record, so a server started again on the
 * same storage shows sizes and platforms without reading a manifest; the push order is kept in the
 * registry-wide record, so sorting by last push reads only the page's indexes; and facts, keyed by
 * digest, stay right when another process (a replica) writes the repository. Over real FsStores in
 * a scratch folder, pushed through the registry's own services.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type RepositoryInsights } from '../../../src/browse/repository-insights.js';
import { parseFactsRecord } from '../../../src/browse/entry-facts.js';
import { digestOf } from '../../../src/oci/digest.js';
import { type Registry } from '../../../src/registry/registry.js';
import { pushStoreImage, putStoreBlob } from '../../helpers/store-images.js';
import { scratchDir } from '../../helpers/scratch.js';
import { closeReadModels, openReadModels } from '../../helpers/read-models.js';
import { OCI_EMPTY, OCI_INDEX, OCI_MANIFEST } from '../../helpers/oci.js';

afterAll(closeReadModels);
const open = openReadModels;

/** A manifest pushed by digest or tag (an index, a signature), as the registry validates it. */
async function pushDocument(registry: Registry, name: string, reference: string | undefined, document: object, mediaType: string) {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, ...document }));
  const digest = digestOf(bytes);
  await registry.manifests.put(name, reference === undefined ? { digest } : { tag: reference }, bytes, mediaType, { mayMoveTag: true });
  return { digest: digest.value, size: bytes.length };
}

/** Lets the read models' unawaited appends reach the disk. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

describe('the UI read models', () => {
  it('show a repository after a restart without reading any of its manifests again', async () => {
    const root = await scratchDir('read-models');
    const first = open(root);
    const pushed = [];
    for (const tag of ['v1', 'v2', 'v3']) pushed.push(await pushStoreImage(first.store, first.registry, 'team/app', tag, tag === 'v2' ? 'amd64' : 'arm64'));
    const before = await first.insights.repository('team/app', { page: 1, perPage: 50 });
    await settle();
    await first.store.close();

    const restarted = open(root);
    const after = await restarted.insights.repository('team/app', { page: 1, perPage: 50 });
    expect(after.tags.items.map((tag) => [tag.tag, tag.size, tag.platforms])).toEqual(before.tags.items.map((tag) => [tag.tag, tag.size, tag.platforms]));
    expect(after.tags.items.find((tag) => tag.tag === 'v2')).toMatchObject({ kind: 'image', size: pushed[1]!.size, platforms: [{ os: 'linux', architecture: 'amd64' }] });
    // Three manifests and configs, one shared layer.
    expect(after.size).toBe(pushed.reduce((sum, image) => sum + image.size - image.layer, pushed[0]!.layer));
    expect(after.size).toBe(before.size);
    expect(restarted.manifestReads).toEqual([]);
  });

  it('count untagged manifests, show signature badges and the pulled size of an index after a restart reading no manifest', async () => {
    const root = await scratchDir('read-models');
    const first = open(root);
    const { store, registry } = first;
    const amd = await pushStoreImage(store, registry, 'team/app', 'amd', 'amd64');
    const arm = await pushStoreImage(store, registry, 'team/app', 'arm', 'arm64');
    const child = (image: { digest: string }, architecture: string) => ({ mediaType: OCI_MANIFEST, digest: image.digest, size: 0, platform: { os: 'linux', architecture } });
    const sizes = new Map<string, number>();
    for (const image of [amd, arm]) sizes.set(image.digest, (await store.readIndex('team/app')).manifests.find((entry) => entry.digest === image.digest)!.size);
    await pushDocument(
      registry,
      'team/app',
      'multi',
      {
        manifests: [
          { ...child(arm, 'arm64'), size: sizes.get(arm.digest) },
          { ...child(amd, 'amd64'), size: sizes.get(amd.digest) },
        ],
      },
      OCI_INDEX,
    );
    // A cosign signature of the amd image (a referrer: neither a tag nor untagged).
    const empty = await putStoreBlob(store, 'team/app', Buffer.from('{}'));
    await pushDocument(
      registry,
      'team/app',
      undefined,
      {
        artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
        config: { mediaType: OCI_EMPTY, digest: empty.value, size: 2 },
        layers: [{ mediaType: OCI_EMPTY, digest: empty.value, size: 2 }],
        subject: { mediaType: OCI_MANIFEST, digest: amd.digest, size: sizes.get(amd.digest) },
      },
      OCI_MANIFEST,
    );
    // A tag moved on: the image it left is the one untagged manifest (the index's platforms and the signature are not).
    const lost = await pushStoreImage(store, registry, 'team/app', 'moving', 'riscv64');
    await pushStoreImage(store, registry, 'team/app', 'moving', 's390x');
    const check = async (insights: RepositoryInsights) => {
      const detail = await insights.repository('team/app', { page: 1, perPage: 50 });
      const multi = detail.tags.items.find((tag) => tag.tag === 'multi')!;
      expect(multi.pulled).toEqual({ platform: { os: 'linux', architecture: 'amd64' }, size: amd.size });
      expect(multi.size).toBeGreaterThan(amd.size + arm.size);
      expect(detail.tags.items.find((tag) => tag.tag === 'amd')!.attachments.map((attachment) => attachment.label)).toEqual(['Signed (cosign)']);
      expect(detail.untagged).toBe(1);
      return detail;
    };
    const before = await check(first.insights);
    expect(before.manifestCount).toBeGreaterThan(5);
    await settle();
    await store.close();

    const restarted = open(root);
    await check(restarted.insights);
    expect(restarted.manifestReads).toEqual([]);
    expect((await restarted.store.readIndex('team/app')).manifests.filter((entry) => entry.digest === lost.digest)).toHaveLength(1);
  });

  it('sort by last push after a restart reading only the indexes of the page shown', async () => {
    const root = await scratchDir('read-models');
    const first = open(root);
    for (let i = 0; i < 12; i++) await pushStoreImage(first.store, first.registry, `team/app-${String(i).padStart(2, '0')}`, 'v1');
    // Pushed last: first by last push.
    await pushStoreImage(first.store, first.registry, 'team/app-03', 'v2');
    const before = await first.insights.repositories({ visible: undefined, sort: 'pushed', page: 1, perPage: 4 });
    expect(before.items.map((item) => item.name)).toEqual(['team/app-03', 'team/app-11', 'team/app-10', 'team/app-09']);
    await settle();
    await first.store.close();

    const restarted = open(root);
    const after = await restarted.insights.repositories({ visible: undefined, sort: 'pushed', page: 1, perPage: 4 });
    expect(after.items.map((item) => item.name)).toEqual(before.items.map((item) => item.name));
    // At most the page's indexes (none once their views are saved).
    expect(before.items.map((item) => item.name)).toEqual(expect.arrayContaining([...new Set(restarted.indexReads)]));
    // A push moves its repository to the front at once.
    await pushStoreImage(restarted.store, restarted.registry, 'team/app-00', 'v2');
    expect((await restarted.insights.repositories({ visible: undefined, sort: 'pushed', page: 1, perPage: 2 })).items.map((item) => item.name)).toEqual(['team/app-00', 'team/app-03']);
  });

  it('stay right when another process writes the repository, and keep the record to what the index holds', async () => {
    const root = await scratchDir('read-models');
    const reader = open(root);
    await pushStoreImage(reader.store, reader.registry, 'team/app', 'v1');
    expect((await reader.insights.repository('team/app', { page: 1, perPage: 50 })).tagCount).toBe(1);
    await settle();
    await reader.store.close();
    // Another writer (as a replica would) pushes; the reader's next page reads the new index and that one manifest.
    const writer = open(root);
    const pushed = await pushStoreImage(writer.store, writer.registry, 'team/app', 'v2', 'riscv64');
    await writer.store.close();
    reader.manifestReads.length = 0;
    const detail = await reader.insights.repository('team/app', { page: 1, perPage: 50 });
    expect(detail.tags.items.map((tag) => tag.tag)).toEqual(['v2', 'v1']);
    expect(detail.tags.items[0]).toMatchObject({ digest: pushed.digest, size: pushed.size, platforms: [{ os: 'linux', architecture: 'riscv64' }] });
    expect(reader.manifestReads.filter((read) => read.includes(pushed.digest))).toEqual([`team/app@${pushed.digest}`]);
    await settle();
    const record = parseFactsRecord(await reader.store.readDerived('team/app'));
    expect(new Set(record.map((facts) => facts.digest))).toContain(pushed.digest);
  });

  it('skip a torn or foreign line of a record', () => {
    const line = JSON.stringify({ d: 'sha256:aa', m: OCI_MANIFEST, k: 'image', s: 10, p: ['linux/arm64/v8'], b: [['sha256:bb', 5]] });
    const record = `${line}\n{"d":"sha256:cc","m":\n${JSON.stringify({ d: 'sha256:dd', m: OCI_MANIFEST, k: 'nonsense', s: 1, b: [] })}\n${line.slice(0, 20)}`;
    expect(parseFactsRecord(record)).toEqual([
      { digest: 'sha256:aa', mediaType: OCI_MANIFEST, kind: 'image', size: 10, platforms: [{ os: 'linux', architecture: 'arm64', variant: 'v8' }], children: [], blobs: [['sha256:bb', 5]] },
    ]);
  });
});
