/**
 * What replicas share: locks that serialize writes across processes, small records (upload
 * sessions, browser sessions, API keys, users) and counters (failed sign-ins). One Berth process
 * uses the local implementation (in-process locks, one file per record under the storage root,
 * counters in memory); replicas share Redis.
 * Implementations: local-coordination.ts and redis-coordination.ts.
 */

export interface Locks {
  /**
   * Runs `work` holding the lock `key`, waiting for it as long as it takes. A shared lock expires
   * if its holder dies (so a killed replica never blocks the others) and is renewed while `work`
   * runs. Throws UNAVAILABLE when the lock cannot be reached.
   */
  run<T>(key: string, work: () => Promise<T>): Promise<T>;
  /**
   * Runs `work` only if nobody holds `key` now (one replica collects garbage); else undefined.
   * `held()` tells long work whether the lock is still surely its own (a shared lock can be lost
   * while the work runs: Redis restarted, or unreachable past its expiry), so it can stop early.
   */
  tryRun<T>(key: string, work: (held: () => boolean) => Promise<T>): Promise<T | undefined>;
}

/** A named map of JSON records; a record may expire. Keys are the caller's own, never paths. */
export interface SharedRecords<T> {
  get(key: string): Promise<T | undefined>;
  set(key: string, value: T, options?: { ttlMs?: number }): Promise<void>;
  /** Removes the record and returns what it held (atomically: two takers never both get it). */
  take(key: string): Promise<T | undefined>;
  /** Every live record: reads the whole map, so never on a request's path (only one-time migrations and tests). */
  entries(): Promise<Array<[string, T]>>;
}

/** A counter's value, and how long its window has left (both 0 for a counter that is absent). */
export interface CounterValue {
  count: number;
  resetInMs: number;
}

/**
 * Counters that count within a fixed window: the first increment starts it, and the counter is
 * gone when it ends (INCR and PEXPIRE in Redis). Small and hot: made for limits on sign-in attempts.
 * A counter never outlives its window, so nothing counted here can lock anyone out for good.
 */
export interface SharedCounters {
  /**
   * Adds one to `key`, starting a window of `windowMs` when it has none (or, with `renew`, starting
   * it again), and returns the new value. Atomic: concurrent increments are each counted once.
   */
  increment(key: string, windowMs: number, options?: { renew?: boolean }): Promise<CounterValue>;
  /** The values of several counters, in order, in one round trip. */
  read(keys: readonly string[]): Promise<CounterValue[]>;
}

/**
 * An append-only log the replicas share, its entries numbered 1, 2, 3, … in the order they were
 * appended, read by named consumers each from a position of its own (the events outbox of replicas).
 */
export interface SharedLog {
  /**
   * Appends `values` as consecutive entries and resolves with the last one's number once the
   * shared store has them. Entries take the order of the calls (not of their completions).
   */
  append(values: string[]): Promise<number>;
  /** At most `count` entries after number `after`, oldest first. */
  read(after: number, count: number): Promise<Array<{ seq: number; value: string }>>;
  /** The number of the last entry `consumer` is done with; a consumer never seen starts at the newest entry (saved). Marks the consumer as in use (see `trimPassed`). */
  position(consumer: string): Promise<number>;
  /** Saves `consumer` as done with everything up to `seq`; a position never moves back. */
  advance(consumer: string, seq: number): Promise<void>;
  /** The newest entry's number and the saved positions of `consumers` (undefined: never seen), in one round trip. */
  progress(consumers: string[]): Promise<{ last: number; positions: Array<number | undefined> }>;
  /**
   * Forgets the entries every consumer is past: up to the lowest saved position of all consumers,
   * those of other processes too (another replica may serve consumers this one does not). A
   * consumer other than `own` whose position was neither read nor saved for `forgetAfterMs` is
   * taken as removed: its position is deleted (back, it starts at the newest entry). Nothing is
   * trimmed while one of `own` has no position yet.
   */
  trimPassed(own: string[], forgetAfterMs: number): Promise<void>;
}

export interface Coordination {
  /** True when several processes share this coordination (Redis). */
  readonly shared: boolean;
  /** `redis` or `local`: shown by /readyz and the log. */
  readonly kind: string;
  readonly locks: Locks;
  records<T>(map: string): SharedRecords<T>;
  /** A named set of counters; keys are the caller's own text. */
  counters(name: string): SharedCounters;
  /** A named log shared by the replicas: only where they share a store (Redis); a lone process keeps its own on disk. */
  sharedLog?(name: string): SharedLog;
  /** Throws unless the shared store answers (readiness). */
  check(): Promise<void>;
  close(): Promise<void>;
}
