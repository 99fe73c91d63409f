/**
 * The repositories' saved views (tag-table.ts) on storage, in the repository's derived records
 * `<name>#view` (the header), `#viewt` (the tags), `#viewp0`, `#viewn0`, ... (the rows in chunks)
 * and `#viewd0`, `#viewg0`, ... (the image page's digest and tag buckets):
 * the header read at the repository's first page after a start, written in the background a
 * moment after a view is computed, for the index version it was computed from. Safe to share
 * between S3 replicas: a record names its version, and under any other it is not read; the last
 * writer wins, and a record lost or left behind costs only time.
 */
import { inParallel } from '../coordination/in-parallel.js';
import type { Store } from '../storage/store.js';
import type { RepositoryView } from './repository-view.js';
import { savedTable, savedViewRecords, type TagTable } from './tag-table.js';

/** A view is saved this long after it was computed (one write for a burst of versions, off the page's path). */
const SAVE_DELAY_MS = 1_000;

const recordKey = (name: string, chunk = '') => `${name}#view${chunk}`;
/**
 * The records' format, part of the version each names: a record another Berth wrote in another
 * format is of no version this one asks for, so it is not used (and is written again).
 */
const FORMAT = 'v1';
const named = (version: string) => `${FORMAT}/${version}`;
/** Chunks written at once. */
const WRITES_IN_FLIGHT = 4;

interface Pending {
  version: string;
  view: RepositoryView;
  timer: NodeJS.Timeout;
}

/** How many records this process wrote, by repository: the version of the last (the same view is not saved twice). */
const MAX_WRITTEN = 100_000;

export class SavedViews {
  private readonly pending = new Map<string, Pending>();
  private readonly written = new Map<string, string>();

  constructor(private readonly store: Store) {}

  /** `name`'s saved view, when there is one for index version `version` and it is whole. */
  async read(name: string, version: string): Promise<TagTable | undefined> {
    const text = await this.store.readDerived(recordKey(name)).catch(() => '');
    return text === '' ? undefined : savedTable(text, named(version), (chunk) => this.store.readDerived(recordKey(name, chunk)).catch(() => ''));
  }

  /** Saves `view`, computed for `version`, a moment from now (replacing one still waiting); not awaited. */
  save(name: string, version: string, view: RepositoryView): void {
    if (this.written.get(name) === version) return;
    const held = this.pending.get(name);
    if (held) {
      held.version = version;
      held.view = view;
      held.timer.refresh();
      return;
    }
    this.pending.set(name, { version, view, timer: setTimeout(() => void this.write(name), SAVE_DELAY_MS).unref() });
  }

  /** Writes every save still waiting (shutdown; tests). */
  async flush(): Promise<void> {
    await Promise.all([...this.pending.keys()].map((name) => this.write(name)));
  }

  private async write(name: string): Promise<void> {
    const held = this.pending.get(name);
    if (!held) return;
    this.pending.delete(name);
    clearTimeout(held.timer);
    try {
      // Asked before the index: the store's object of the version read, when it is still the
      // view's, holds exactly that version (a fold rewrote index.json, nothing changed in it).
      const version = await this.store.indexVersion(name);
      if ((await this.store.readIndex(name)) !== held.view.index) return;
      if (this.written.get(name) === version) return;
      // Made one record at a time, each written before the next is made (the event loop is held
      // for one record, not for all 194 of an 8,000-tag view); the header last, so a reader never
      // finds a header whose other records are not there yet, unless a write failed (then a record
      // of another version, and the page is computed).
      const records = savedViewRecords(named(version), held.view);
      let header: string | undefined;
      await inParallel(records, WRITES_IN_FLIGHT, async ([kind, text]) => {
        if (kind === '') header = text;
        else await this.store.replaceDerived(recordKey(name, kind), text);
      });
      if (header !== undefined) await this.store.replaceDerived(recordKey(name), header);
      if (this.written.size >= MAX_WRITTEN) this.written.clear();
      this.written.set(name, version);
    } catch {
      // A cache: the next start computes the view instead.
    }
  }
}
