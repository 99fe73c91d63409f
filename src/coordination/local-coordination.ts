/**
 * Coordination inside one process: locks are in-process mutexes, records live where the factory
 * puts them (one file per record under the storage root in production, memory in unit tests).
 */
import type { Coordination, Locks, SharedRecords } from './coordination.js';
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

  async tryRun<T>(key: string, work: () => Promise<T>): Promise<T | undefined> {
    if (this.held.has(key)) return undefined;
    return this.run(key, work);
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

export class LocalCoordination implements Coordination {
  readonly shared = false;
  readonly kind = 'local';
  readonly locks: Locks = new LocalLocks();
  private readonly maps = new Map<string, SharedRecords<unknown>>();

  constructor(private readonly recordsFor: (map: string) => SharedRecords<unknown> = () => new MemoryRecords()) {}

  records<T>(map: string): SharedRecords<T> {
    let records = this.maps.get(map);
    if (!records) {
      records = this.recordsFor(map);
      this.maps.set(map, records);
    }
    return records as SharedRecords<T>;
  }

  async check(): Promise<void> {}

  async close(): Promise<void> {}
}
