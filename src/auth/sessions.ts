/**
 * Browser sessions, kept server-side so that signing out ends them for good (a copied cookie is
 * dead too) and they survive restarts. The file holds SHA-256 hashes of session ids, never the ids.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { JsonDocument } from '../storage/json-document.js';

export interface SessionRecord {
  username: string;
  groups: string[];
  /** The provider key, or `htpasswd` for a password sign-in from the UI. */
  provider: string;
  /** Kept for RP-initiated logout (`id_token_hint`). */
  idToken?: string;
  created: number;
  expires: number;
}

export interface SessionsFile {
  sessions: Record<string, SessionRecord>;
}

/** zot's session lifetime. */
export const SESSION_TTL_MS = 2 * 60 * 60 * 1000;

const hashOf = (id: string) => createHash('sha256').update(id).digest('base64url');

export class SessionStore {
  constructor(private readonly document: JsonDocument<SessionsFile>) {}

  /** A new session with a fresh random id (never reusing one the browser sent: no fixation). */
  async create(record: Omit<SessionRecord, 'created' | 'expires'>, now = Date.now()): Promise<{ id: string; expires: number }> {
    const id = randomBytes(32).toString('base64url');
    const expires = now + SESSION_TTL_MS;
    await this.document.update((draft) => {
      for (const [key, session] of Object.entries(draft.sessions)) if (session.expires <= now) delete draft.sessions[key];
      draft.sessions[hashOf(id)] = { ...record, created: now, expires };
    });
    return { id, expires };
  }

  async get(id: string, now = Date.now()): Promise<SessionRecord | undefined> {
    const session = (await this.document.read()).sessions[hashOf(id)];
    return session && session.expires > now ? session : undefined;
  }

  async destroy(id: string): Promise<SessionRecord | undefined> {
    return this.document.update((draft) => {
      const key = hashOf(id);
      const session = draft.sessions[key];
      delete draft.sessions[key];
      return session;
    });
  }
}
