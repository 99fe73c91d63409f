/**
 * What Berth remembers of people who signed in through a provider: their groups at the last login.
 * Requests made with their API keys carry these groups, so losing a group at the provider takes
 * effect at the next login (zot keeps the same record in its metaDB).
 */
import type { JsonDocument } from '../storage/json-document.js';

export interface UserRecord {
  groups: string[];
  provider: string;
  lastLogin: string;
}

export interface UsersFile {
  users: Record<string, UserRecord>;
}

export class UserDirectory {
  constructor(private readonly document: JsonDocument<UsersFile>) {}

  async recordLogin(username: string, groups: string[], provider: string): Promise<void> {
    await this.document.update((draft) => {
      draft.users[username] = { groups, provider, lastLogin: new Date().toISOString() };
    });
  }

  async get(username: string): Promise<UserRecord | undefined> {
    return (await this.document.read()).users[username];
  }
}
