/**
 * Records kept in one field of a JSON document under `<root>/_berth/`: the coordination of a single
 * Berth process (no Redis). The field holds the records exactly as Berth always wrote them
 * (`sessions.json` is `{"sessions": {...}}`, `users.json` `{"users": {...}}`, `api-keys.json`
 * `{"keys": {...}}`), so existing state keeps working. Records written with a ttl also get their
 * expiry in a sibling field (`"sessionsExpiry": {"<key>": <ms since epoch>}`) that older versions
 * ignore; expired records are never returned and are pruned at the next write.
 */
import { LocalCoordination, MemoryRecords } from '../coordination/local-coordination.js';
import type { SharedRecords } from '../coordination/coordination.js';
import { JsonDocument } from './json-document.js';
import { Layout } from './layout.js';

export type RecordsDocument = Record<string, unknown>;
type Entries = Record<string, unknown>;
type Expiries = Record<string, number>;

export class DocumentRecords<T> implements SharedRecords<T> {
  private readonly expiryField: string;

  constructor(
    private readonly document: JsonDocument<RecordsDocument>,
    private readonly field: string,
  ) {
    this.expiryField = `${field}Expiry`;
  }

  async get(key: string): Promise<T | undefined> {
    const current = await this.document.read();
    return this.live(current, key, Date.now()) ? structuredClone(this.recordsOf(current)[key] as T) : undefined;
  }

  async set(key: string, value: T, options: { ttlMs?: number } = {}): Promise<void> {
    const now = Date.now();
    await this.document.update((draft) => {
      const records = this.recordsOf(draft, true);
      const expiries = this.expiriesOf(draft, true);
      for (const [other, expires] of Object.entries(expiries)) {
        if (expires <= now) {
          delete records[other];
          delete expiries[other];
        }
      }
      // Keys are the caller's (a user name may be `__proto__`): own properties, never setters.
      Object.defineProperty(records, key, { value: structuredClone(value), enumerable: true, writable: true, configurable: true });
      if (options.ttlMs === undefined) delete expiries[key];
      else Object.defineProperty(expiries, key, { value: now + options.ttlMs, enumerable: true, writable: true, configurable: true });
      if (Object.keys(expiries).length === 0) delete draft[this.expiryField];
    });
  }

  async take(key: string): Promise<T | undefined> {
    // Nothing to remove: no write (a stale cookie signing out must not rewrite the file).
    if (!Object.hasOwn(this.recordsOf(await this.document.read()), key)) return undefined;
    return this.document.update((draft) => {
      const records = this.recordsOf(draft, true);
      const value = this.live(draft, key, Date.now()) ? (records[key] as T) : undefined;
      delete records[key];
      const expiries = this.expiriesOf(draft, true);
      delete expiries[key];
      if (Object.keys(expiries).length === 0) delete draft[this.expiryField];
      return value;
    });
  }

  async entries(): Promise<Array<[string, T]>> {
    const current = await this.document.read();
    const now = Date.now();
    return Object.entries(this.recordsOf(current))
      .filter(([key]) => this.live(current, key, now))
      .map(([key, value]) => [key, structuredClone(value as T)]);
  }

  private live(document: RecordsDocument, key: string, now: number): boolean {
    if (!Object.hasOwn(this.recordsOf(document), key)) return false;
    const expiries = this.expiriesOf(document);
    const expires = Object.hasOwn(expiries, key) ? expiries[key] : undefined;
    return expires === undefined || expires > now;
  }

  private recordsOf(document: RecordsDocument, create = false): Entries {
    return objectField<Entries>(document, this.field, create);
  }

  private expiriesOf(document: RecordsDocument, create = false): Expiries {
    return objectField<Expiries>(document, this.expiryField, create);
  }
}

/** The object in `document[field]`: made and set there when `create`, else a detached empty one. */
function objectField<V extends object>(document: RecordsDocument, field: string, create: boolean): V {
  const value = document[field];
  if (value !== null && typeof value === 'object') return value as V;
  const empty = {} as V;
  if (create) document[field] = empty;
  return empty;
}

/** The maps kept in files, and where: the state of the auth modules, in the files Berth has always used. */
const DOCUMENTS: Record<string, { document: string; field: string }> = {
  sessions: { document: 'sessions', field: 'sessions' },
  users: { document: 'users', field: 'users' },
  'api-keys': { document: 'api-keys', field: 'keys' },
  // A single replica on S3 without Redis: its upload sessions survive a restart, as on disk.
  's3-uploads': { document: 'upload-sessions', field: 'uploads' },
};

/**
 * The coordination of a single Berth process: in-process locks; the records of the auth maps in
 * `<root>/_berth/{sessions,users,api-keys,upload-sessions}.json`; any other map (single-use sign-in
 * states) in memory.
 */
export function localCoordination(root: string): LocalCoordination {
  const layout = new Layout(root);
  return new LocalCoordination((map) => {
    const place = DOCUMENTS[map];
    if (!place) return new MemoryRecords();
    const document = new JsonDocument<RecordsDocument>(layout.stateDocument(place.document), () => ({ [place.field]: {} }));
    return new DocumentRecords(document, place.field);
  });
}
