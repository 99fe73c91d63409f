/**
 * Every repository's last push, for the repository list sorted by last push, kept without reading
 * every index.json: in memory, fed by the writes this process makes (`note`, from the manifest
 * service's write listener and from each index version a page reads), and in the registry-wide
 * derived record (Store.readDerived('')), one line per change, so a restart reads one file (on S3,
 * where an append rewrites the record, it is saved after each refresh pass, not at each push).
 *
 * A repository the record does not know (storage written by zot or an older Berth) is read once.
 * When other processes write the same storage (`Store.replicated`: S3 replicas), their pushes reach
 * this one's memory only through a pass that reads every index again, at most every
 * REFRESH_MS and in the background (pages answer from memory meanwhile).
 */
import { inParallel } from '../coordination/in-parallel.js';
import type { Store } from '../storage/store.js';

/** How often, at most, replicas' pushes are looked for by reading every index. */
const REFRESH_MS = 5_000;
const READS_IN_FLIGHT = 16;
/** The record is rewritten whole once it holds this many times more lines than repositories. */
const COMPACT_RATIO = 4;

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export class PushOrder {
  /** Last push (ms since the epoch; -Infinity: never, as far as Berth recorded) by repository. */
  private readonly times = new Map<string, number>();
  private loaded: Promise<void> | undefined;
  private lines = 0;
  /** Bumped at each change of `times`: the sorted list below is for one version. */
  private version = 0;
  private sorted: { of: readonly string[]; version: number; names: readonly string[] } | undefined;
  private refreshedAt = 0;
  private refreshing: Promise<void> | undefined;
  private pending = '';
  private appending: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly lastPushOf: (name: string) => Promise<Date | undefined>,
  ) {}

  /** What a write or a page learned: `name`'s newest push is `lastPush`. */
  note(name: string, lastPush: Date | undefined): void {
    const time = lastPush?.getTime() ?? Number.NEGATIVE_INFINITY;
    if (this.times.get(name) === time) return;
    this.times.set(name, time);
    this.version++;
    this.pending += `${JSON.stringify([name, Number.isFinite(time) ? time : null])}\n`;
    // On S3 an append rewrites the whole record: there it is saved after each refresh pass instead.
    if (!this.store.replicated) this.scheduleSave();
  }

  private scheduleSave(): void {
    this.appending ??= Promise.resolve().then(() => this.save());
  }

  /** `all` (the store's sorted list), newest push first; never pushed to last, by name. */
  async names(all: readonly string[]): Promise<readonly string[]> {
    await (this.loaded ??= this.load());
    const unknown = all.filter((name) => !this.times.has(name));
    if (unknown.length > 0) await this.readEach(unknown);
    if (this.store.replicated && Date.now() - this.refreshedAt > REFRESH_MS) this.refreshInBackground(all);
    if (this.sorted?.of === all && this.sorted.version === this.version) return this.sorted.names;
    const time = (name: string) => this.times.get(name) ?? Number.NEGATIVE_INFINITY;
    const names = [...all].sort((a, b) => time(b) - time(a) || compare(a, b));
    this.sorted = { of: all, version: this.version, names };
    return names;
  }

  private async load(): Promise<void> {
    const text = await this.store.readDerived('').catch(() => '');
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const [name, time] = JSON.parse(line) as [unknown, unknown];
        if (typeof name === 'string') this.times.set(name, typeof time === 'number' ? time : Number.NEGATIVE_INFINITY);
        this.lines++;
      } catch {
        // A torn line: that repository is read again.
      }
    }
    this.refreshedAt = Date.now();
    this.version++;
  }

  private async readEach(names: readonly string[]): Promise<void> {
    await inParallel(names, READS_IN_FLIGHT, async (name) => this.note(name, await this.lastPushOf(name).catch(() => undefined)));
  }

  private refreshInBackground(all: readonly string[]): void {
    this.refreshedAt = Date.now();
    this.refreshing ??= this.readEach(all)
      .catch(() => undefined)
      .finally(() => {
        this.refreshing = undefined;
        this.refreshedAt = Date.now();
        if (this.pending !== '') this.scheduleSave();
      });
  }

  /** Appends what changed since the last save (one write for many notes); compacts a long record. */
  private async save(): Promise<void> {
    const text = this.pending;
    this.pending = '';
    try {
      if (this.lines + 1 > COMPACT_RATIO * Math.max(64, this.times.size)) {
        const whole = [...this.times].map(([name, time]) => `${JSON.stringify([name, Number.isFinite(time) ? time : null])}\n`).join('');
        await this.store.replaceDerived('', whole);
        this.lines = this.times.size;
      } else {
        await this.store.appendDerived('', text);
        this.lines += text.split('\n').length - 1;
      }
    } catch {
      // A cache: what was lost is read again after a restart.
    } finally {
      this.appending = undefined;
      if (this.pending !== '' && !this.store.replicated) this.scheduleSave();
    }
  }
}
