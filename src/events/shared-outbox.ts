/**
 * The outbox of replicas that share Redis (`storage.cacheDriver`): the events of every replica's
 * writes go to one shared log (coordination's SharedLog: a Redis stream numbered 1, 2, 3, …), so an
 * event outlives the replica that recorded it, and a sink gets the events of all replicas in one
 * order. Each sink has one position in Redis, and one replica at a time delivers to it: the one
 * holding the sink's lock (`events-sink:<key>`, renewed while held, expiring 10 s after a holder
 * dies, when another replica takes over from the saved position). So each event is delivered by one
 * replica; after a takeover the last events before it may come twice (the same `id`), none is lost.
 *
 * A reader keeps one page (100 records) in memory, whatever the backlog. Positions are saved at most
 * every 250 ms and when a sink is caught up; what every sink (of any replica) has passed is trimmed
 * from the stream.
 */
import type { Locks, SharedLog } from '../coordination/coordination.js';
import { Waiters } from '../coordination/waiters.js';
import type { Outbox, OutboxReader, OutboxRecord } from './outbox-api.js';

const PAGE = 100;
const SAVE_EVERY_MS = 250;
/** How often the replica delivering to a sink looks for events other replicas appended. */
const POLL_MS = 250;
/** A sink whose position no replica has read or saved for this long is taken as removed. */
const FORGET_AFTER_MS = 24 * 3_600_000;

export class SharedOutbox implements Outbox {
  private readonly appended = new Waiters();

  /**
   * @param forgetAfterMs after how long a sink no replica delivers to is taken as removed (see
   * `prune`); a day by default, longer than any turn (a turn reads the sink's position).
   */
  constructor(
    private readonly log: SharedLog,
    private readonly locks: Locks,
    private readonly forgetAfterMs: number = FORGET_AFTER_MS,
  ) {}

  async append(events: Array<Record<string, unknown>>): Promise<void> {
    const at = Date.now();
    // Called in lock order, and the log takes the order of the calls (one connection, one EVAL each).
    const appending = this.log.append(events.map((event) => JSON.stringify({ at, event })));
    await appending;
    this.appended.wakeAll();
  }

  /** Asks Redis nothing yet (Berth starts while Redis is down): the first turn reads the position. */
  async reader(key: string): Promise<SharedOutboxReader> {
    return new SharedOutboxReader(this.log, key);
  }

  exclusive<T>(key: string, work: (held: () => boolean) => Promise<T>): Promise<T | undefined> {
    return this.locks.tryRun(`events-sink:${key}`, work);
  }

  waitForAppend(ms: number): Promise<void> {
    return this.appended.wait(Math.min(ms, POLL_MS));
  }

  wakeAll(): void {
    this.appended.wakeAll();
  }

  /**
   * Trims what every sink has passed: the sinks of every replica, not only this one's (during a
   * rolling config change another replica may deliver to a sink this one does not know). A sink no
   * replica has delivered to for `forgetAfterMs` counts as removed from the config, so that a
   * removed sink does not keep the stream from ever being trimmed again.
   */
  async prune(readers: OutboxReader[]): Promise<void> {
    if (readers.length === 0) return;
    await this.log.trimPassed(
      readers.map((reader) => (reader as SharedOutboxReader).key),
      this.forgetAfterMs,
    );
  }

  async close(): Promise<void> {
    this.wakeAll();
  }
}

export class SharedOutboxReader implements OutboxReader {
  private page: OutboxRecord[] = [];
  private savedAt = 0;

  /** The last record this sink is done with, here; `saved` is what Redis has (both known after `resume()`). */
  private position = 0;
  private saved = 0;

  constructor(
    private readonly log: SharedLog,
    readonly key: string,
  ) {}

  async resume(): Promise<void> {
    this.position = this.saved = await this.log.position(this.key);
    this.page = [];
  }

  async next(): Promise<OutboxRecord | undefined> {
    for (;;) {
      if (this.page.length === 0) this.page = (await this.log.read(this.position, PAGE)).map(parseEntry);
      const record = this.page[0];
      if (!record || record.seq > 0) return record;
      // A damaged entry (written by hand?): passed over.
      this.page.shift();
      this.position = -record.seq;
    }
  }

  async commit(record: OutboxRecord): Promise<void> {
    if (this.page[0] === record) this.page.shift();
    this.position = Math.max(this.position, record.seq);
    if (Date.now() - this.savedAt >= SAVE_EVERY_MS) await this.save();
  }

  async save(): Promise<void> {
    if (this.position <= this.saved) return;
    const position = this.position;
    await this.log.advance(this.key, position);
    this.saved = position;
    this.savedAt = Date.now();
  }

  async pending(): Promise<number> {
    const { last, positions } = await this.log.progress([this.key]);
    // A sink no replica has started yet will start after the newest record: nothing pending.
    if (positions[0] === undefined) return 0;
    return Math.max(0, last - Math.max(positions[0], this.position));
  }
}

/** An entry as a record; a damaged one gets the negated seq (to pass over it). */
function parseEntry(entry: { seq: number; value: string }): OutboxRecord {
  try {
    const { at, event } = JSON.parse(entry.value) as { at: number; event: Record<string, unknown> };
    if (typeof at === 'number' && typeof event === 'object' && event !== null) return { seq: entry.seq, at, event };
  } catch {
    // below
  }
  return { seq: -entry.seq, at: 0, event: {} };
}
