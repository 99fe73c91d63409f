/**
 * Coordination inside one process: locks are in-process mutexes, records live where the factory
 * puts them (one file per record under the storage root in production, memory in unit tests),
 * counters in memory (a restart forgets failed sign-ins, as a window's end would).
 */
import type { Coordination, CounterValue, Locks, SharedCounters, SharedRecords } from './coordination.js';
import { KeyedMutex } from './keyed-mutex.js';

class LocalLocks implements Locks {
  private readonly mutex = new KeyedMutex();
  private readonly held = new Set<string>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.mutex.run(key, async () => {
      this.held.add(key);
      try {
        return await work();
      } finally {
        this.held.delete(key);
      }
    });
  }

  async tryRun<T>(key: string, work: (held: () => boolean) => Promise<T>): Promise<T | undefined> {
    if (this.held.has(key)) return undefined;
    // In one process a lock is never lost.
    return this.run(key, () => work(() => true));
  }
}

/** Records in memory: for tests and for state that need not outlive the process. */
export class MemoryRecords<T> implements SharedRecords<T> {
  private readonly values = new Map<string, { value: T; expires: number }>();

  async get(key: string): Promise<T | undefined> {
    const entry = this.values.get(key);
    if (!entry) return undefined;
    if (entry.expires <= Date.now()) {
      this.values.delete(key);
      return undefined;
    }
    return structuredClone(entry.value);
  }

  async set(key: string, value: T, options: { ttlMs?: number } = {}): Promise<void> {
    const now = Date.now();
    // Expired records go at the next write: a map of single-use sign-in states never just grows.
    for (const [other, entry] of this.values) if (entry.expires <= now) this.values.delete(other);
    this.values.set(key, { value: structuredClone(value), expires: options.ttlMs === undefined ? Infinity : now + options.ttlMs });
  }

  async take(key: string): Promise<T | undefined> {
    const value = await this.get(key);
    this.values.delete(key);
    return value;
  }

  async entries(): Promise<Array<[string, T]>> {
    const live: Array<[string, T]> = [];
    for (const key of [...this.values.keys()]) {
      const value = await this.get(key);
      if (value !== undefined) live.push([key, value]);
    }
    return live;
  }
}

/** Live counters a MemoryCounters keeps at most, by default: about 10 MB, whoever sends the keys. */
const MAX_COUNTERS = 100_000;

/**
 * Counters in memory, with a bound on their number: the keys come from requests (addresses, user
 * names), so a flood of new ones must not grow the process. Past the bound, expired counters go
 * first, then the oldest (a Map iterates in insertion order).
 */
export class MemoryCounters implements SharedCounters {
  private readonly values = new Map<string, { count: number; expires: number }>();

  constructor(private readonly maxKeys = MAX_COUNTERS) {}

  get size(): number {
    return this.values.size;
  }

  private live(key: string, now: number): { count: number; expires: number } | undefined {
    const entry = this.values.get(key);
    if (entry && entry.expires <= now) {
      this.values.delete(key);
      return undefined;
    }
    return entry;
  }

  async increment(key: string, windowMs: number, options: { renew?: boolean } = {}): Promise<CounterValue> {
    const now = Date.now();
    let entry = this.live(key, now);
    if (!entry) {
      if (this.values.size >= this.maxKeys) this.makeRoom(now);
      entry = { count: 0, expires: now + windowMs };
      this.values.set(key, entry);
    } else if (options.renew) {
      entry.expires = now + windowMs;
    }
    entry.count += 1;
    return { count: entry.count, resetInMs: entry.expires - now };
  }

  async read(keys: readonly string[]): Promise<CounterValue[]> {
    const now = Date.now();
    return keys.map((key) => {
      const entry = this.live(key, now);
      return entry ? { count: entry.count, resetInMs: entry.expires - now } : { count: 0, resetInMs: 0 };
    });
  }

  private makeRoom(now: number): void {
    for (const [key, entry] of this.values) if (entry.expires <= now) this.values.delete(key);
    // Still full: the oldest tenth goes, so a flood costs one pass per many inserts, not one each.
    let excess = this.values.size - this.maxKeys + Math.ceil(this.maxKeys / 10);
    for (const key of this.values.keys()) {
      if (excess-- <= 0) break;
      this.values.delete(key);
    }
  }
}

export class LocalCoordination implements Coordination {
  readonly shared = false;
  readonly kind = 'local';
  readonly locks: Locks = new LocalLocks();
  private readonly maps = new Map<string, SharedRecords<unknown>>();
  private readonly counterSets = new Map<string, MemoryCounters>();

  constructor(private readonly recordsFor: (map: string) => SharedRecords<unknown> = () => new MemoryRecords()) {}

  records<T>(map: string): SharedRecords<T> {
    let records = this.maps.get(map);
    if (!records) {
      records = this.recordsFor(map);
      this.maps.set(map, records);
    }
    return records as SharedRecords<T>;
  }

  counters(name: string): SharedCounters {
    let counters = this.counterSets.get(name);
    if (!counters) {
      counters = new MemoryCounters();
      this.counterSets.set(name, counters);
    }
    return counters;
  }

  async check(): Promise<void> {}

  async close(): Promise<void> {}
}
