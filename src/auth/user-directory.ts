/**
 * What Berth remembers of people who signed in through a provider: their groups at the last login.
 * Requests made with their API keys carry these groups, so losing a group at the provider takes
 * effect at the next login (zot keeps the same record in its metaDB). Kept in the coordination's
 * `users` records (Redis, or `_berth/users.json`), keyed by user name.
 */
import type { SharedRecords } from '../coordination/coordination.js';

export interface UserRecord {
  groups: string[];
  provider: string;
  lastLogin: string;
}

/** The file of a single process: `_berth/users.json`. */
export interface UsersFile {
  users: Record<string, UserRecord>;
}

export class UserDirectory {
  constructor(private readonly records: SharedRecords<UserRecord>) {}

  async recordLogin(username: string, groups: string[], provider: string): Promise<void> {
    await this.records.set(username, { groups, provider, lastLogin: new Date().toISOString() });
  }

  async get(username: string): Promise<UserRecord | undefined> {
    return this.records.get(username);
  }
}
