/**
 * API keys (zot's `zak_` keys): a random secret shown once, stored as its SHA-256 with the owner,
 * label, dates and last use. A key is the password of HTTP Basic auth with its owner's user name.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { JsonDocument } from '../storage/json-document.js';

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
  constructor(private readonly document: JsonDocument<ApiKeysFile>) {}

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
    await this.document.update((draft) => {
      draft.keys[record.id] = record;
    });
    return { key, record };
  }

  async list(owner: string): Promise<ApiKeyView[]> {
    const { keys } = await this.document.read();
    return Object.values(keys)
      .filter((record) => record.owner === owner)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
      .map((record) => viewOf(record));
  }

  /** True when the owner had such a key and it is now gone. */
  async revoke(owner: string, id: string): Promise<boolean> {
    return this.document.update((draft) => {
      if (draft.keys[id]?.owner !== owner) return false;
      delete draft.keys[id];
      return true;
    });
  }

  /** The key's record when `key` is a live key of `username`, else undefined. */
  async verify(username: string, key: string, now = Date.now()): Promise<ApiKeyRecord | undefined> {
    const hash = Buffer.from(hashOf(key), 'hex');
    const { keys } = await this.document.read();
    const record = Object.values(keys).find((candidate) => timingSafeEqual(Buffer.from(candidate.hash, 'hex'), hash));
    if (!record || record.owner !== username) return undefined;
    if (record.expiresAt !== undefined && Date.parse(record.expiresAt) <= now) return undefined;
    if (!record.lastUsed || now - Date.parse(record.lastUsed) > LAST_USED_RESOLUTION_MS) {
      void this.document
        .update((draft) => {
          const current = draft.keys[record.id];
          if (current) current.lastUsed = new Date(now).toISOString();
        })
        .catch(() => undefined);
    }
    return record;
  }
}
