/** Which manifests count as untagged, which a cleanup may remove (src/registry/untagged.ts), and the cleanup racing a push. */
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { digestOf, parseDigest } from '../../../src/oci/digest.js';
import { Registry } from '../../../src/registry/registry.js';
import { findUntagged } from '../../../src/registry/untagged.js';
import { FsStore } from '../../../src/storage/fs-store.js';
import { scratchDir } from '../../helpers/scratch.js';
import { OCI_CONFIG, OCI_MANIFEST } from '../../helpers/oci.js';
import type { Descriptor } from '../../../src/oci/manifest.js';

const REF = 'org.opencontainers.image.ref.name';
const entry = (digest: string, tag?: string): Descriptor => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 1, ...(tag ? { annotations: { [REF]: tag } } : {}) });

describe('findUntagged', () => {
  const facts: Record<string, { manifests: string[]; subject?: string }> = {
    index: { manifests: ['amd', 'arm'] },
    amd: { manifests: [] },
    arm: { manifests: [] },
    sig: { manifests: [], subject: 'index' },
    moved: { manifests: [] },
    oldIndex: { manifests: ['oldAmd', 'oldArm'] },
    oldAmd: { manifests: [] },
    oldArm: { manifests: [] },
  };
  const entries = [entry('index', 'multi'), entry('amd'), entry('arm'), entry('sig'), entry('moved'), entry('oldIndex'), entry('oldAmd'), entry('oldArm')];

  it('counts what no tag reaches and no referrer is, an untagged index once with its platforms', () => {
    const found = findUntagged(entries, (digest) => facts[digest]);
    expect(found).toEqual({ roots: ['moved', 'oldIndex'], doomed: ['moved', 'oldIndex', 'oldAmd', 'oldArm'], certain: true });
  });

  it('keeps a manifest also listed by a tagged index, and one tagged under another name', () => {
    const found = findUntagged([...entries, entry('oldAmd', 'pinned')], (digest) => facts[digest]);
    expect(found.doomed).toEqual(['moved', 'oldIndex', 'oldArm']);
  });

  it('is uncertain when a tagged manifest cannot be read, and never dooms an unreadable one', () => {
    const found = findUntagged([entry('index', 'multi'), entry('amd'), entry('lost')], (digest) => (digest === 'index' || digest === 'lost' ? undefined : facts[digest]));
    expect(found.certain).toBe(false);
    expect(found.doomed).toEqual(['amd']);
    expect(found.roots).toEqual(['amd', 'lost']);
  });
});

describe('ManifestService.deleteUntagged', () => {
  /** Stores to close after the tests: each keeps its index journals open between pushes. */
  const opened: FsStore[] = [];
  afterAll(() => Promise.all(opened.map((store) => store.close())));

  async function pushImage(store: FsStore, registry: Registry, name: string, tag: string, seed: string): Promise<{ digest: string; bytes: Buffer }> {
    const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [] }, seed }));
    await store.ensureRepository(name);
    const session = await store.uploads.create(name);
    await store.uploads.commit(name, session.id, digestOf(config), Readable.from([config]));
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: digestOf(config).value, size: config.length }, layers: [] }));
    await registry.manifests.put(name, { tag }, bytes, OCI_MANIFEST, { mayMoveTag: true });
    return { digest: digestOf(bytes).value, bytes };
  }

  it('removes nothing a push tagged after it looked: it looks again', async () => {
    const store = new FsStore(await scratchDir('untagged'), { dedupe: false });
    opened.push(store);
    const registry = new Registry(store);
    const first = await pushImage(store, registry, 'team/app', 'v1', 'first');
    await pushImage(store, registry, 'team/app', 'v1', 'second');
    // The first image is untagged now; a push tags it again just before the cleanup's index change.
    const changeIndex = store.changeIndex.bind(store);
    let raced = false;
    store.changeIndex = async (name, change) => {
      if (!raced) {
        raced = true;
        await registry.manifests.put(name, { tag: 'again' }, first.bytes, OCI_MANIFEST, { mayMoveTag: false });
      }
      return changeIndex(name, change);
    };
    expect(await registry.manifests.deleteUntagged('team/app', {})).toEqual([]);
    expect(raced).toBe(true);
    expect((await registry.manifests.get('team/app', { tag: 'again' })).descriptor.digest).toBe(first.digest);
    // Without a race, the untagged image goes.
    await registry.manifests.delete('team/app', { tag: 'again' }, { detectCollision: false });
    expect(await registry.manifests.deleteUntagged('team/app', {})).toEqual([first.digest]);
    await expect(registry.manifests.get('team/app', { digest: parseDigest(first.digest)! })).rejects.toMatchObject({ key: 'MANIFEST_UNKNOWN' });
    await expect(registry.manifests.deleteUntagged('team/app', { everything: true })).rejects.toMatchObject({ key: 'CLEANUP_REFUSED' });
  });
});
