/**
 * Browser sessions, kept server-side so that signing out ends them for good (a copied cookie is
 * dead too) and they survive restarts. They live in the coordination's `sessions` records (Redis,
 * shared by replicas; or the files under `_berth/sessions/`), keyed by the SHA-256 of the session
 * id, never the id; each record expires with its session. A session says who signed in and how;
 * what they may do is decided at each request (authenticator.ts), never frozen here.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { SharedRecords } from '../coordination/coordination.js';

export interface SessionRecord {
  username: string;
  /** The provider's groups at sign-in, for the record; requests use the user's current ones. */
  groups: string[];
  /** The provider key, or `htpasswd` for a password sign-in from the UI. */
  provider: string;
  /** The provider's `sub` (not for htpasswd): the session ends if the name is bound to another. */
  subject?: string;
  /** Kept for RP-initiated logout (`id_token_hint`). */
  idToken?: string;
  created: number;
  expires: number;
}

/** zot's session lifetime. */
export const SESSION_TTL_MS = 2 * 60 * 60 * 1000;

const hashOf = (id: string) => createHash('sha256').update(id).digest('base64url');

export class SessionStore {
  constructor(private readonly records: SharedRecords<SessionRecord>) {}

  /** A new session with a fresh random id (never reusing one the browser sent: no fixation). */
  async create(record: Omit<SessionRecord, 'created' | 'expires'>, now = Date.now()): Promise<{ id: string; expires: number }> {
    const id = randomBytes(32).toString('base64url');
    const expires = now + SESSION_TTL_MS;
    await this.records.set(hashOf(id), { ...record, created: now, expires }, { ttlMs: SESSION_TTL_MS });
    return { id, expires };
  }

  async get(id: string, now = Date.now()): Promise<SessionRecord | undefined> {
    const session = await this.records.get(hashOf(id));
    return session && session.expires > now ? session : undefined;
  }

  /** Ends the session on every replica; returns what it held. */
  async destroy(id: string): Promise<SessionRecord | undefined> {
    return this.records.take(hashOf(id));
  }
}
