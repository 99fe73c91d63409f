/**
 * What Berth remembers of people who signed in through a provider, keyed by user name: the provider,
 * the subject (`sub`) the name is bound to, and their groups at the last sign-in (zot keeps the same
 * record in its metaDB). Requests carry these provider groups until the next sign-in, merged with
 * the config's groups of the moment (see authenticator.ts).
 *
 * A name is bound to the first subject that signs in with it: Pocket ID lets users rename
 * themselves, so a name can be freed and taken by someone else, who must not inherit the account
 * (its API keys, its policies). A later sign-in with the name and another subject is refused
 * until an admin releases the name (`berth users release`). Records written before subjects were
 * kept have none: they adopt the subject of their next sign-in.
 *
 * Kept in the coordination's `users` records (Redis, or the files under `_berth/users/`).
 */
import type { Locks, SharedRecords } from '../coordination/coordination.js';

export interface UserRecord {
  groups: string[];
  provider: string;
  /** The provider's `sub` this name is bound to. */
  sub?: string;
  lastLogin: string;
}

/** What a sign-in made of the name's binding. */
export type Binding = { ok: true; /** The record had no subject yet and took this one. */ adopted: boolean } | { ok: false; reason: 'another-provider' | 'another-subject'; bound: UserRecord };

const userLock = (username: string) => `user:${username}`;

export class UserDirectory {
  constructor(
    private readonly records: SharedRecords<UserRecord>,
    private readonly locks: Locks,
  ) {}

  /**
   * Records a sign-in of `username` through `provider` as `sub` with its groups, binding the name
   * at its first sign-in; refuses (and changes nothing) when the name is bound to someone else.
   */
  async signIn(username: string, provider: string, sub: string, groups: string[]): Promise<Binding> {
    return this.locks.run(userLock(username), async () => {
      const known = await this.records.get(username);
      if (known && known.provider !== provider) return { ok: false, reason: 'another-provider', bound: known };
      if (known?.sub !== undefined && known.sub !== sub) return { ok: false, reason: 'another-subject', bound: known };
      await this.records.set(username, { groups, provider, sub, lastLogin: new Date().toISOString() });
      return { ok: true, adopted: known !== undefined && known.sub === undefined };
    });
  }

  async get(username: string): Promise<UserRecord | undefined> {
    return this.records.get(username);
  }

  /** Frees the name (its sessions end with it); returns the binding it had. */
  async release(username: string): Promise<UserRecord | undefined> {
    return this.locks.run(userLock(username), () => this.records.take(username));
  }
}
