/**
 * Remembers recently verified Basic credentials so that a push (dozens of requests, each carrying
 * the password) pays for one bcrypt comparison, not one per request. Entries are keyed by an HMAC
 * under a per-process random key, never by the password, and expire after a short time.
 */
import { createHmac, randomBytes } from 'node:crypto';

const TTL_MS = 5 * 60_000;
const MAX_ENTRIES = 10_000;

export class CredentialCache {
  private readonly key = randomBytes(32);
  private readonly entries = new Map<string, { expires: number; generation: number }>();

  private digest(username: string, password: string): string {
    return createHmac('sha256', this.key).update(username).update('\0').update(password).digest('base64');
  }

  /** True when these credentials were verified against the same generation of the user list. */
  has(username: string, password: string, generation: number): boolean {
    const id = this.digest(username, password);
    const entry = this.entries.get(id);
    if (!entry) return false;
    if (entry.expires < Date.now() || entry.generation !== generation) {
      this.entries.delete(id);
      return false;
    }
    return true;
  }

  add(username: string, password: string, generation: number): void {
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(this.digest(username, password), { expires: Date.now() + TTL_MS, generation });
  }
}
