/**
 * `_catalog` pages (ListingService.repositories) on a real filesystem store: the same pages as
 * filtering then paginating the whole list, while asking the caller's permission only about the
 * names a page looks at, and not at all for a caller who reads everything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListingService, paginate } from '../../../src/registry/listings.js';
import { ManifestCatalog } from '../../../src/registry/manifest-catalog.js';
import { FsStore } from '../../../src/storage/fs-store.js';
import { TempDirs } from '../../helpers/temp-dirs.js';

const dirs = new TempDirs();
afterAll(() => dirs.removeAll());

describe('catalog pages', () => {
  const names = Array.from({ length: 60 }, (_, i) => `team${i % 3}/app${String(i).padStart(2, '0')}`).sort();
  let listings: ListingService;
  beforeAll(async () => {
    const store = new FsStore(await dirs.make('catalog'));
    for (const name of names) await store.ensureRepository(name);
    listings = new ListingService(store, new ManifestCatalog(store));
  });

  it('pages every repository without asking per name when the caller reads them all', async () => {
    let last: string | undefined;
    const seen: string[] = [];
    for (;;) {
      const page = await listings.repositories(7, last, undefined);
      seen.push(...page.items);
      expect(page).toEqual(paginate(names, 7, last));
      if (!page.next) break;
      last = page.next;
    }
    expect(seen).toEqual(names);
  });

  it('gives the pages of the visible names, asking only about the names up to the next visible one', async () => {
    const visible = (name: string) => name.startsWith('team1/');
    const allowed = names.filter(visible);
    for (const [n, last] of [
      [5, undefined],
      [5, 'team1/app04'],
      [5, 'team1/app55'],
      [100, undefined],
      [3, 'team0/app99'],
      [0, undefined],
    ] as const) {
      const asked: string[] = [];
      const page = await listings.repositories(n, last, (name) => (asked.push(name), visible(name)));
      expect(page, `n=${n} last=${last}`).toEqual(paginate(allowed, n, last));
      // What it looked at: from `last` to one visible name past the page (whether more follow).
      const from = last === undefined ? 0 : names.findIndex((name) => name > last);
      expect(asked[0]).toBe(from === -1 ? undefined : names[from]);
      expect(asked.filter(visible).length).toBeLessThanOrEqual(n + 1);
    }
  });
});
