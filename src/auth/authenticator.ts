/**
 * Decides who a request comes from. Today: HTTP Basic against htpasswd; identities carry the groups
 * `accessControl.groups` gives them, so policies treat every way of signing in alike.
 */
import type { Identity } from '../access/policy.js';
import { parseBasic } from './basic-credentials.js';
import { CredentialCache } from './credential-cache.js';
import type { HtpasswdStore } from './htpasswd.js';

export type Authentication =
  | { kind: 'anonymous' }
  | { kind: 'identity'; identity: Identity }
  /** Credentials were sent and are wrong or malformed: answered 401 after `failDelay`. */
  | { kind: 'rejected'; reason: string };

export class Authenticator {
  private readonly cache = new CredentialCache();

  constructor(
    private readonly htpasswd: HtpasswdStore | undefined,
    private readonly groupsOf: (username: string) => string[],
  ) {}

  /** Whether any way of signing in is configured; without one the registry is open. */
  get configured(): boolean {
    return this.htpasswd !== undefined;
  }

  async authenticate(authorization: string | undefined): Promise<Authentication> {
    if (!this.htpasswd || authorization === undefined) return { kind: 'anonymous' };
    const credentials = parseBasic(authorization);
    if (!credentials) return { kind: 'rejected', reason: 'unsupported authorization scheme; use Basic' };
    if (!credentials.ok) return { kind: 'rejected', reason: credentials.reason };
    const { username, password } = credentials;
    const { generation } = this.htpasswd;
    const verified = this.cache.has(username, password, generation) || (await this.htpasswd.verify(username, password));
    if (!verified) return { kind: 'rejected', reason: 'invalid username or password' };
    this.cache.add(username, password, generation);
    return { kind: 'identity', identity: Object.freeze({ username, groups: Object.freeze(this.groupsOf(username)) }) };
  }
}
