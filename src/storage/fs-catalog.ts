/**
 * The filesystem store's list of repositories: one walk of the root (folders holding an index.json,
 * at any depth), kept sorted and refreshed in the background, plus what this process created or
 * removed since, applied at once.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { isValidName } from '../oci/names.js';
import { isNotFound } from './files.js';
import { Layout } from './layout.js';
import { SortedNames } from './sorted-names.js';
import { Semaphore } from '../coordination/semaphore.js';

/**
 * How long a catalog walk is trusted; repositories this process creates are added at once. After
 * that the cached list is still answered while one walk refreshes it in the background (it finds
 * repositories another program put under the root), so no request waits for a walk but the first.
 */
const CATALOG_TTL_MS = 5_000;
/**
 * Folders read at once by the walk for the repository list: the walk at a start (5,000
 * repositories) must not queue thousands of readdirs in libuv's four threads, or the first page's
 * few reads wait behind them all. Eight also walks fastest (5,000 repositories: 240-280 ms, where
 * all at once took 310-370 and three 410-500).
 */
const WALK_READS_IN_FLIGHT = 8;

export class FsCatalog {
  /** Repositories this process made sure of (created, or found with an index.json). */
  private readonly known = new Set<string>();
  private catalog: { at: number; names: SortedNames } | undefined;
  private walking: Promise<void> | undefined;
  /** Removed while a walk ran: the walk may have listed them before they went. */
  private readonly removedDuringWalk = new Set<string>();

  constructor(private readonly root: string) {}

  /** Whether this process knows `name` exists (made sure of it, and has not seen it go): no disk read. */
  has(name: string): boolean {
    return this.known.has(name);
  }

  added(name: string): void {
    this.known.add(name);
    this.removedDuringWalk.delete(name);
    this.catalog?.names.add(name);
  }

  removed(name: string): void {
    this.known.delete(name);
    if (this.walking) this.removedDuringWalk.add(name);
    this.catalog?.names.remove(name);
  }

  /** Every repository, sorted: one shared, frozen array. */
  async list(): Promise<readonly string[]> {
    if (!this.catalog) await this.refresh();
    else if (Date.now() - this.catalog.at > CATALOG_TTL_MS) void this.refresh().catch(() => undefined);
    return this.catalog!.names.all;
  }

  /** One walk at a time; repositories created or removed while it ran are as they are now. */
  private refresh(): Promise<void> {
    this.walking ??= (async () => {
      const at = Date.now();
      this.removedDuringWalk.clear();
      const found = await walk('', this.root, new Semaphore(WALK_READS_IN_FLIGHT));
      const names = new SortedNames([...found.filter((name) => !this.removedDuringWalk.has(name)), ...this.known]);
      this.catalog = { at, names };
    })().finally(() => {
      this.walking = undefined;
      this.removedDuringWalk.clear();
    });
    return this.walking;
  }
}

/** Finds repositories below `folder`: folders holding an index.json, at any depth. */
async function walk(prefix: string, folder: string, slots: Semaphore): Promise<string[]> {
  let entries;
  await slots.acquire();
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  } finally {
    slots.release();
  }
  const found: string[] = [];
  if (prefix !== '' && entries.some((entry) => entry.name === 'index.json' && entry.isFile()) && isValidName(prefix)) found.push(prefix);
  const children = entries.filter((entry) => entry.isDirectory() && !Layout.isSkippedFolder(entry.name));
  const nested = await Promise.all(children.map((entry) => walk(prefix === '' ? entry.name : `${prefix}/${entry.name}`, path.join(folder, entry.name), slots)));
  return found.concat(...nested);
}
