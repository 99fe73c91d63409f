/**
 * The records of a single Berth process (no Redis): one file per record under
 * `<root>/_berth/<map>/`, named by the SHA-256 of the record's key (keys are the caller's: a user
 * name may be anything, never a path). A file holds `{"key": ..., "value": ..., "expires"?: <ms
 * since epoch>}` and is written atomically. A map is read once, at its first use, into memory;
 * after that a read is a lookup and a write or a take touches one file, however many records the
 * map holds (a whole-map document rewritten at every write made each new API key cost ~290 ms at
 * 4,000 keys).
 *
 * Older versions kept each map in one JSON document (`sessions.json` `{"sessions": {...},
 * "sessionsExpiry": {...}}`, `users.json`, `api-keys.json` `{"keys": {...}}`,
 * `upload-sessions.json`). At first use its live records are written out one per file, then the
 * document is removed; a crash half-way leaves the document, and the next start writes the same
 * files again.
 */
import { readdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { KeyedMutex } from '../coordination/keyed-mutex.js';
import { LocalCoordination, MemoryRecords } from '../coordination/local-coordination.js';
import type { SharedRecords } from '../coordination/coordination.js';
import { ensureFolder, fsyncFolder, isNotFound, writeFileAtomic } from './files.js';
import { Layout } from './layout.js';

interface Stored<T> {
  key: string;
  value: T;
  expires?: number;
}

/** Where an older version kept a map: `_berth/<document>.json`, records in `field`. */
export interface LegacyDocument {
  document: string;
  field: string;
}

/** Expired records are removed by a sweep at most this often (reads never return them anyway). */
const SWEEP_INTERVAL_MS = 60_000;
/** Files read at once while loading a map. */
const LOAD_CONCURRENCY = 32;

const isLive = (stored: Stored<unknown>, now: number) => stored.expires === undefined || stored.expires > now;

export class FileRecords<T> implements SharedRecords<T> {
  private loading: Promise<Map<string, Stored<T>>> | undefined;
  /** Serializes the writes of one key, so files and memory agree on which came last. */
  private readonly writes = new KeyedMutex();
  private readonly folder: string;
  private folderMade = false;
  private nextSweep = 0;

  constructor(
    private readonly layout: Layout,
    private readonly map: string,
    private readonly legacy?: LegacyDocument,
  ) {
    this.folder = layout.stateRecords(map);
  }

  async get(key: string): Promise<T | undefined> {
    const stored = (await this.records()).get(key);
    return stored && isLive(stored, Date.now()) ? structuredClone(stored.value) : undefined;
  }

  async set(key: string, value: T, options: { ttlMs?: number } = {}): Promise<void> {
    const records = await this.records();
    const stored: Stored<T> = { key, value: structuredClone(value), ...(options.ttlMs === undefined ? {} : { expires: Date.now() + options.ttlMs }) };
    await this.writes.run(key, async () => {
      await this.write(stored);
      records.set(key, stored);
    });
    this.sweepSometimes(records);
  }

  async take(key: string): Promise<T | undefined> {
    const records = await this.records();
    return this.writes.run(key, async () => {
      const stored = records.get(key);
      // Nothing to remove: no write (a stale cookie signing out touches no file).
      if (!stored) return undefined;
      await this.remove(key);
      // Durable: a revoked key or ended session must not come back after a crash.
      await fsyncFolder(this.folder);
      records.delete(key);
      return isLive(stored, Date.now()) ? stored.value : undefined;
    });
  }

  async entries(): Promise<Array<[string, T]>> {
    const now = Date.now();
    return [...(await this.records()).values()].filter((stored) => isLive(stored, now)).map((stored) => [stored.key, structuredClone(stored.value)]);
  }

  private records(): Promise<Map<string, Stored<T>>> {
    this.loading ??= this.load().catch((error: unknown) => {
      this.loading = undefined;
      throw error;
    });
    return this.loading;
  }

  private async load(): Promise<Map<string, Stored<T>>> {
    if (this.legacy) await this.migrate(this.legacy);
    let names: string[];
    try {
      names = await readdir(this.folder);
    } catch (error) {
      if (isNotFound(error)) return new Map();
      throw error;
    }
    const records = new Map<string, Stored<T>>();
    const now = Date.now();
    const files = names.filter((name) => name.endsWith('.json') && !name.startsWith('.'));
    for (let start = 0; start < files.length; start += LOAD_CONCURRENCY) {
      await Promise.all(
        files.slice(start, start + LOAD_CONCURRENCY).map(async (name) => {
          const file = path.join(this.folder, name);
          let stored: Stored<T>;
          try {
            stored = JSON.parse(await readFile(file, 'utf8')) as Stored<T>;
          } catch (error) {
            if (isNotFound(error)) return;
            throw new Error(`${file}: not a record of Berth's (${(error as Error).message}); move it away to start`, { cause: error });
          }
          if (isLive(stored, now)) records.set(stored.key, stored);
          else await unlink(file).catch(() => undefined);
        }),
      );
    }
    // A crash between a temp file's write and its rename leaves the temp file: it is no record.
    await Promise.all(names.filter((name) => name.startsWith('.') && name.endsWith('.tmp')).map((name) => unlink(path.join(this.folder, name)).catch(() => undefined)));
    return records;
  }

  /** Writes the live records of an older version's document one per file, then removes it. */
  private async migrate({ document, field }: LegacyDocument): Promise<void> {
    const file = this.layout.stateDocument(document);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    const content = JSON.parse(text) as Record<string, unknown>;
    const records = objectField(content, field);
    const expiries = objectField(content, `${field}Expiry`) as Record<string, unknown>;
    const now = Date.now();
    for (const [key, value] of Object.entries(records)) {
      const expires = Object.hasOwn(expiries, key) && typeof expiries[key] === 'number' ? expiries[key] : undefined;
      if (expires !== undefined && expires <= now) continue;
      await this.write({ key, value: value as T, ...(expires === undefined ? {} : { expires }) });
    }
    await unlink(file);
    await fsyncFolder(path.dirname(file));
  }

  private async write(stored: Stored<T>): Promise<void> {
    if (!this.folderMade) {
      await ensureFolder(this.folder);
      this.folderMade = true;
    }
    await writeFileAtomic(this.layout.stateRecord(this.map, stored.key), JSON.stringify(stored));
  }

  private async remove(key: string): Promise<void> {
    await unlink(this.layout.stateRecord(this.map, key)).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
  }

  /** Now and then, in the background, removes the files of expired records (sessions, sign-ins). */
  private sweepSometimes(records: Map<string, Stored<T>>): void {
    const now = Date.now();
    if (now < this.nextSweep) return;
    this.nextSweep = now + SWEEP_INTERVAL_MS;
    for (const stored of records.values()) {
      if (isLive(stored, now)) continue;
      void this.writes
        .run(stored.key, async () => {
          const current = records.get(stored.key);
          if (!current || isLive(current, Date.now())) return;
          records.delete(stored.key);
          await this.remove(stored.key);
        })
        .catch(() => undefined);
    }
  }
}

function objectField(document: Record<string, unknown>, field: string): Record<string, unknown> {
  const value = Object.hasOwn(document, field) ? document[field] : undefined;
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}

/**
 * The maps a single process keeps on disk, and the document an older version kept each in. Any
 * other map (single-use sign-in states) lives in memory.
 */
export const PERSISTED_MAPS: Readonly<Record<string, LegacyDocument | null>> = {
  sessions: { document: 'sessions', field: 'sessions' },
  users: { document: 'users', field: 'users' },
  'api-keys': { document: 'api-keys', field: 'keys' },
  'api-key-hashes': null,
  'api-key-owners': null,
  // A single replica on S3 without Redis: its upload sessions survive a restart, as on disk.
  's3-uploads': { document: 'upload-sessions', field: 'uploads' },
  // The registry tokens' signing secret (src/workload/registry-tokens.ts): tokens outlive a restart.
  'registry-token-keys': null,
};

/** The coordination of a single Berth process: in-process locks, the maps above in files. */
export function localCoordination(root: string): LocalCoordination {
  const layout = new Layout(root);
  return new LocalCoordination((map) => {
    if (!Object.hasOwn(PERSISTED_MAPS, map)) return new MemoryRecords();
    return new FileRecords(layout, map, PERSISTED_MAPS[map] ?? undefined);
  });
}
