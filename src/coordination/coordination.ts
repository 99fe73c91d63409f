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
  /** Runs `work` only if nobody holds `key` now (one replica collects garbage); else undefined. */
  tryRun<T>(key: string, work: () => Promise<T>): Promise<T | undefined>;
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

export interface Coordination {
  /** True when several processes share this coordination (Redis). */
  readonly shared: boolean;
  /** `redis` or `local`: shown by /readyz and the log. */
  readonly kind: string;
  readonly locks: Locks;
  records<T>(map: string): SharedRecords<T>;
  /** A named set of counters; keys are the caller's own text. */
  counters(name: string): SharedCounters;
  /** Throws unless the shared store answers (readiness). */
  check(): Promise<void>;
  close(): Promise<void>;
}
