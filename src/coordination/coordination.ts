/**
 * What replicas share: locks that serialize writes across processes and small records (upload
 * sessions, browser sessions, API keys, users). One Berth process uses the local implementation
 * (in-process locks, one file per record under the storage root); replicas share Redis.
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

export interface Coordination {
  /** True when several processes share this coordination (Redis). */
  readonly shared: boolean;
  /** `redis` or `local`: shown by /readyz and the log. */
  readonly kind: string;
  readonly locks: Locks;
  records<T>(map: string): SharedRecords<T>;
  /** Throws unless the shared store answers (readiness). */
  check(): Promise<void>;
  close(): Promise<void>;
}
