/**
 * A repository deleted while a maintenance pass walks the list it read before (garbage collection,
 * scrub): the pass skips it and finishes the others, instead of failing whole on NAME_UNKNOWN.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { FsStore } from '../../src/storage/fs-store.js';
import { GarbageCollector } from '../../src/maintenance/garbage-collector.js';
import { Scrubber } from '../../src/maintenance/scrub.js';
import { ManifestCatalog } from '../../src/registry/manifest-catalog.js';
import type { Store } from '../../src/storage/store.js';
import { TempDirs } from '../helpers/temp-dirs.js';

const temps = new TempDirs();
afterAll(() => temps.removeAll());

/** The store, but its list is read before `gone` is removed: the race of a pass with "Delete repository". */
async function racingStore(gone: string): Promise<Store> {
  const store = new FsStore(await temps.make('removed'));
  for (const name of ['kept/a', gone, 'kept/b']) await store.ensureRepository(name);
  return Object.create(store, {
    listRepositories: {
      value: async () => {
        const listed = await store.listRepositories();
        expect(await store.removeRepository(gone)).toBe(true);
        return listed;
      },
    },
  }) as Store;
}

describe('a repository removed during a maintenance pass', () => {
  it('is skipped by garbage collection, which collects the others', async () => {
    const store = await racingStore('gone/app');
    const gc = new GarbageCollector(store, new ManifestCatalog(store), () => ({ gcDelayMs: 0, retention: { dryRun: false, delayMs: 0, policies: [] } }));
    const collection = await gc.collect();
    expect(collection.repositories.map((item) => item.repository)).toEqual(['kept/a', 'kept/b']);
  });

  it('is skipped by scrub', async () => {
    const store = await racingStore('gone/app');
    await expect(new Scrubber(store).scrub()).resolves.toEqual([]);
  });
});
