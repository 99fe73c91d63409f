/**
 * API keys (zot's `zak_` keys): a random secret shown once, stored as its SHA-256 with the owner,
 * label, dates, last use, and the identity it was made for (provider and subject: a key of a name
 * that was released and taken by someone else never works for the new holder). A key is the
 * password of HTTP Basic auth with its owner's user name.
 *
 * Three maps of the coordination (Redis, or files under `_berth/`), so that no operation reads
 * every key (a check used to compare against all of them: 4,000 keys of one user made every
 * key request of everyone ~8 times slower):
 *   api-keys        record id → record (as older versions wrote it)
 *   api-key-hashes  SHA-256 of the key → record id: a check is two lookups
 *   api-key-owners  user name → the ids of their keys: listing, the per-user cap, revoking all
 * Writes of one owner's keys hold the owner's lock; read-modify-writes of one record (its last use,
 * its subject) hold the record's lock too, so nothing ever brings a revoked key back. Keys an older
 * version wrote (no index) are indexed once, at first use, under a lock; a marker says it is done.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Identity } from '../access/policy.js';
import type { Coordination, Locks, SharedRecords } from '../coordination/coordination.js';
import { RegistryError } from '../oci/errors.js';

export const API_KEY_PREFIX = 'zak_';
/**
 * The most keys one user may hold: one per machine and pipeline is a few dozen at most, and the
 * cap bounds what one user's listing, index record and revoke-all cost (zot has no cap).
 */
export const MAX_API_KEYS_PER_USER = 100;
/** Writing `lastUsed` on every request would be a write per pull; once a minute is enough. */
const LAST_USED_RESOLUTION_MS = 60_000;
/** In `api-key-hashes`, where no SHA-256 can be: the keys of older versions are indexed. */
const INDEXED_MARKER = 'indexed-v1';

export interface ApiKeyRecord {
  id: string;
  owner: string;
  label: string;
  hash: string;
  createdAt: string;
  expiresAt?: string;
  lastUsed?: string;
  creatorUa?: string;
  /** How the owner signed in when making it: `htpasswd` or an OpenID provider's key. */
  provider?: string;
  /** The provider's `sub` of the owner (none for htpasswd): the key dies if the name is rebound. */
  subject?: string;
}

/** Whom a new key is for: the signed-in identity's provider and subject. */
export interface KeyOwner {
  username: string;
  provider: string;
  subject?: string;
}

/** The owner of a key made by this signed-in identity (a password, or a provider's session). */
export function keyOwnerOf(identity: Identity): KeyOwner {
  return { username: identity.username!, provider: identity.provider ?? 'htpasswd', ...(identity.subject !== undefined ? { subject: identity.subject } : {}) };
}

/** A record as shown to its owner: everything but the hash. */
export type ApiKeyView = Omit<ApiKeyRecord, 'hash' | 'provider' | 'subject'> & { isExpired: boolean };

/** The owner already holds `MAX_API_KEYS_PER_USER` keys. */
export class ApiKeyLimitError extends RegistryError {
  constructor() {
    super('DENIED', { limit: MAX_API_KEYS_PER_USER, reason: `a user may hold at most ${MAX_API_KEYS_PER_USER} API keys; revoke one to create another` });
  }
}

const hashOf = (key: string) => createHash('sha256').update(key).digest('hex');
const ownerLock = (owner: string) => `api-key-owner:${owner}`;
const recordLock = (id: string) => `api-key:${id}`;

export function viewOf(record: ApiKeyRecord, now = Date.now()): ApiKeyView {
  const { hash: _hash, provider: _provider, subject: _subject, ...rest } = record;
  return { ...rest, isExpired: record.expiresAt !== undefined && Date.parse(record.expiresAt) <= now };
}

export class ApiKeyStore {
  private readonly records: SharedRecords<ApiKeyRecord>;
  private readonly hashes: SharedRecords<string>;
  private readonly owners: SharedRecords<string[]>;
  private readonly locks: Locks;
  private indexing: Promise<void> | undefined;

  constructor(coordination: Pick<Coordination, 'records' | 'locks'>) {
    this.records = coordination.records('api-keys');
    this.hashes = coordination.records('api-key-hashes');
    this.owners = coordination.records('api-key-owners');
    this.locks = coordination.locks;
  }

  /** A new key for `owner`; throws ApiKeyLimitError when they hold the most allowed. */
  async create(owner: KeyOwner, label: string, expiresAt: Date | undefined, creatorUa: string | undefined): Promise<{ key: string; record: ApiKeyRecord }> {
    await this.ready();
    return this.locks.run(ownerLock(owner.username), async () => {
      let ids = (await this.owners.get(owner.username)) ?? [];
      // Only near the cap: ids whose record is gone (a crash mid-create or mid-revoke) do not count.
      if (ids.length >= MAX_API_KEYS_PER_USER) ids = await this.existing(owner.username, ids);
      if (ids.length >= MAX_API_KEYS_PER_USER) throw new ApiKeyLimitError();
      const key = `${API_KEY_PREFIX}${randomBytes(16).toString('hex')}`;
      const record: ApiKeyRecord = {
        id: randomUUID(),
        owner: owner.username,
        label,
        hash: hashOf(key),
        createdAt: new Date().toISOString(),
        ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}),
        ...(creatorUa ? { creatorUa: creatorUa.slice(0, 200) } : {}),
        provider: owner.provider,
        ...(owner.subject !== undefined ? { subject: owner.subject } : {}),
      };
      // The owner's list first: a crash after it leaves an id without a record, which counts for nothing.
      await this.owners.set(owner.username, [...ids, record.id]);
      await this.records.set(record.id, record);
      await this.hashes.set(record.hash, record.id);
      return { key, record };
    });
  }

  async list(owner: string): Promise<ApiKeyView[]> {
    await this.ready();
    const records = await Promise.all(((await this.owners.get(owner)) ?? []).map((id) => this.records.get(id)));
    return (
      records
        .filter((record): record is ApiKeyRecord => record?.owner === owner)
        // Oldest first; keys made in the same millisecond by label, then id.
        .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.label.localeCompare(b.label) || a.id.localeCompare(b.id))
        .map((record) => viewOf(record))
    );
  }

  /** True when the owner had such a key and it is now gone. */
  async revoke(owner: string, id: string): Promise<boolean> {
    await this.ready();
    return this.locks.run(ownerLock(owner), async () => {
      if (!(await this.remove(owner, id))) return false;
      const rest = ((await this.owners.get(owner)) ?? []).filter((other) => other !== id);
      if (rest.length > 0) await this.owners.set(owner, rest);
      else await this.owners.take(owner);
      return true;
    });
  }

  /** Revokes every key of `owner` (`berth users release`); returns how many there were. */
  async revokeAll(owner: string): Promise<number> {
    await this.ready();
    return this.locks.run(ownerLock(owner), async () => {
      let revoked = 0;
      for (const id of (await this.owners.get(owner)) ?? []) if (await this.remove(owner, id)) revoked += 1;
      await this.owners.take(owner);
      return revoked;
    });
  }

  /**
   * Gives the keys of `owner` made before subjects were recorded the subject its name was just
   * bound to (the record of the name adopted it at this sign-in): they go on working.
   */
  async adopt(owner: string, provider: string, subject: string): Promise<void> {
    await this.ready();
    await this.locks.run(ownerLock(owner), async () => {
      for (const id of (await this.owners.get(owner)) ?? []) {
        await this.locks.run(recordLock(id), async () => {
          const record = await this.records.get(id);
          if (!record || record.owner !== owner || record.subject !== undefined || (record.provider ?? provider) !== provider) return;
          await this.records.set(id, { ...record, provider, subject });
        });
      }
    });
  }

  /** The key's record when `key` is a live key of `username`, else undefined: two lookups. */
  async verify(username: string, key: string, now = Date.now()): Promise<ApiKeyRecord | undefined> {
    await this.ready();
    const hash = hashOf(key);
    const id = await this.hashes.get(hash);
    if (id === undefined) return undefined;
    const record = await this.records.get(id);
    if (!record || record.hash !== hash || record.owner !== username) return undefined;
    if (record.expiresAt !== undefined && Date.parse(record.expiresAt) <= now) return undefined;
    if (!record.lastUsed || now - Date.parse(record.lastUsed) > LAST_USED_RESOLUTION_MS) {
      const lastUsed = new Date(now).toISOString();
      void this.locks
        .run(recordLock(record.id), async () => {
          const current = await this.records.get(record.id);
          if (current) await this.records.set(record.id, { ...current, lastUsed });
        })
        .catch(() => undefined);
    }
    return record;
  }

  /** Removes one key of `owner` (its hash first: the key is dead at once); the caller holds the owner's lock. */
  private remove(owner: string, id: string): Promise<boolean> {
    return this.locks.run(recordLock(id), async () => {
      const record = await this.records.get(id);
      if (record?.owner !== owner) return false;
      await this.hashes.take(record.hash);
      return (await this.records.take(id)) !== undefined;
    });
  }

  private async existing(owner: string, ids: string[]): Promise<string[]> {
    const records = await Promise.all(ids.map((id) => this.records.get(id)));
    return ids.filter((_, index) => records[index]?.owner === owner);
  }

  private ready(): Promise<void> {
    this.indexing ??= this.indexOlderKeys().catch((error: unknown) => {
      this.indexing = undefined;
      throw error;
    });
    return this.indexing;
  }

  /** Once per installation: the hash and owner indexes of the keys an older version wrote. */
  private async indexOlderKeys(): Promise<void> {
    if ((await this.hashes.get(INDEXED_MARKER)) !== undefined) return;
    await this.locks.run('api-key-index', async () => {
      if ((await this.hashes.get(INDEXED_MARKER)) !== undefined) return;
      const byOwner = new Map<string, string[]>();
      for (const [id, record] of await this.records.entries()) {
        await this.hashes.set(record.hash, id);
        byOwner.set(record.owner, [...(byOwner.get(record.owner) ?? []), id]);
      }
      for (const [owner, ids] of byOwner) {
        await this.locks.run(ownerLock(owner), async () => {
          const known = (await this.owners.get(owner)) ?? [];
          await this.owners.set(owner, [...new Set([...known, ...ids])]);
        });
      }
      await this.hashes.set(INDEXED_MARKER, 'done');
    });
  }
}
