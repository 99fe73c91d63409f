/**
 * What the delivery loops (events.ts) need of an outbox, whichever keeps it: the local disk
 * (outbox.ts, one process) or the log the replicas share in Redis (shared-outbox.ts).
 */

export interface OutboxRecord {
  /** Its place in the outbox: 1, 2, 3, … in the order of the writes. */
  seq: number;
  /** When it was recorded (ms since the epoch): its age decides when it is dropped. */
  at: number;
  event: Record<string, unknown>;
}

export interface Outbox {
  /**
   * Appends events as consecutive records and resolves once they are durable. The records take the
   * order of the calls: a caller that appends under a repository's lock keeps that repository's order.
   */
  append(events: Array<Record<string, unknown>>): Promise<void>;
  /** A reader for one sink; `resume()` it before reading. */
  reader(key: string): Promise<OutboxReader>;
  /**
   * Runs `work` if this process is the one to deliver to sink `key` now, else resolves undefined
   * (another replica is). Alone there is no one else; replicas take turns by a lock that expires
   * when its holder dies; `held()` turns false once this replica's turn may have passed to another
   * (its lock lost), and the work stops delivering then.
   */
  exclusive<T>(key: string, work: (held: () => boolean) => Promise<T>): Promise<T | undefined>;
  /** Resolves at the next append, or after at most `ms` (sooner where other replicas append too). */
  waitForAppend(ms: number): Promise<void>;
  /** Ends every `waitForAppend` now (at shutdown). */
  wakeAll(): void;
  /** Frees what all of `readers` have passed, as far as their saved positions say. */
  prune(readers: OutboxReader[]): Promise<void>;
  close(): Promise<void>;
}

/** One sink's position: `next()` reads the following record, `commit()` moves past it. */
export interface OutboxReader {
  /** The next record, or undefined when the sink has caught up. */
  next(): Promise<OutboxRecord | undefined>;
  /** Marks the record `next()` returned as done (delivered or dropped); saved now and then, and by `save()`. */
  commit(record: OutboxRecord): Promise<void>;
  /** Saves the position now. */
  save(): Promise<void>;
  /**
   * (Re)starts from the saved position: before the first `next()`, and at each turn (replicas: another
   * may have moved it meanwhile). A sink never seen gets the newest record as its position here.
   */
  resume(): Promise<void>;
  /** Records after this sink's position still to deliver. */
  pending(): Promise<number>;
}
