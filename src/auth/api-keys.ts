/**
 * API keys (zot's `zak_` keys): a random secret shown once, stored as its SHA-256 with the owner,
 * label, dates and last use. A key is the password of HTTP Basic auth with its owner's user name.
 * Kept in the coordination's `api-keys` records (Redis, or `_berth/api-keys.json`) by record id.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Locks, SharedRecords } from '../coordination/coordination.js';

export const API_KEY_PREFIX = 'zak_';
/** Writing `lastUsed` on every request would rewrite the file per pull; once a minute is enough. */
const LAST_USED_RESOLUTION_MS = 60_000;

export interface ApiKeyRecord {
  id: string;
  owner: string;
  label: string;
  hash: string;
  createdAt: string;
  expiresAt?: string;
  lastUsed?: string;
  creatorUa?: string;
}

/** The file of a single process: `_berth/api-keys.json`. */
export interface ApiKeysFile {
  keys: Record<string, ApiKeyRecord>;
}

/** A record as shown to its owner: everything but the hash. */
export type ApiKeyView = Omit<ApiKeyRecord, 'hash'> & { isExpired: boolean };

const hashOf = (key: string) => createHash('sha256').update(key).digest('hex');

export function viewOf(record: ApiKeyRecord, now = Date.now()): ApiKeyView {
  const { hash: _hash, ...rest } = record;
  return { ...rest, isExpired: record.expiresAt !== undefined && Date.parse(record.expiresAt) <= now };
}

export class ApiKeyStore {
  /**
   * `locks` serialize the read-modify-writes of one record (a revoke and a `lastUsed` update), so an
   * update racing a revoke on another replica can never bring the key back.
   */
  constructor(
    private readonly records: SharedRecords<ApiKeyRecord>,
    private readonly locks: Locks,
  ) {}

  async create(owner: string, label: string, expiresAt: Date | undefined, creatorUa: string | undefined): Promise<{ key: string; record: ApiKeyRecord }> {
    const key = `${API_KEY_PREFIX}${randomBytes(16).toString('hex')}`;
    const record: ApiKeyRecord = {
      id: randomUUID(),
      owner,
      label,
      hash: hashOf(key),
      createdAt: new Date().toISOString(),
      ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}),
      ...(creatorUa ? { creatorUa: creatorUa.slice(0, 200) } : {}),
    };
    await this.records.set(record.id, record);
    return { key, record };
  }

  async list(owner: string): Promise<ApiKeyView[]> {
    return (await this.records.entries())
      .map(([, record]) => record)
      .filter((record) => record.owner === owner)
      // Oldest first; keys made in the same millisecond by label, then id (records come in no order).
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.label.localeCompare(b.label) || a.id.localeCompare(b.id))
      .map((record) => viewOf(record));
  }

  /** True when the owner had such a key and it is now gone. */
  async revoke(owner: string, id: string): Promise<boolean> {
    return this.locks.run(lockOf(id), async () => {
      if ((await this.records.get(id))?.owner !== owner) return false;
      return (await this.records.take(id)) !== undefined;
    });
  }

  /** The key's record when `key` is a live key of `username`, else undefined. */
  async verify(username: string, key: string, now = Date.now()): Promise<ApiKeyRecord | undefined> {
    const hash = Buffer.from(hashOf(key), 'hex');
    const records = (await this.records.entries()).map(([, record]) => record);
    const record = records.find((candidate) => timingSafeEqual(Buffer.from(candidate.hash, 'hex'), hash));
    if (!record || record.owner !== username) return undefined;
    if (record.expiresAt !== undefined && Date.parse(record.expiresAt) <= now) return undefined;
    if (!record.lastUsed || now - Date.parse(record.lastUsed) > LAST_USED_RESOLUTION_MS) {
      const lastUsed = new Date(now).toISOString();
      void this.locks
        .run(lockOf(record.id), async () => {
          const current = await this.records.get(record.id);
          if (current) await this.records.set(record.id, { ...current, lastUsed });
        })
        .catch(() => undefined);
    }
    return record;
  }
}

const lockOf = (id: string) => `api-key:${id}`;
