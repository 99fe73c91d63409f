/**
 * Decides who a request comes from. In order: HTTP Basic (an API key as the password of its owner's
 * user name, else the htpasswd password), then a browser session, which counts only when the request
 * carries zot's `X-ZOT-API-CLIENT: zot-ui` header (a cookie alone is ignored: it would make every
 * cross-site form a request with the user's rights).
 */
import type { Identity } from '../access/policy.js';
import { API_KEY_PREFIX, type ApiKeyStore } from './api-keys.js';
import { parseBasic } from './basic-credentials.js';
import { CredentialCache } from './credential-cache.js';
import type { HtpasswdStore } from './htpasswd.js';
import type { SessionStore } from './sessions.js';
import type { UserDirectory } from './user-directory.js';

export type Authentication =
  | { kind: 'anonymous' }
  | { kind: 'identity'; identity: Identity }
  /** Credentials were sent and are wrong, expired or malformed: answered 401 (after `failDelay`). */
  | { kind: 'rejected'; reason: string };

export interface Credentials {
  authorization?: string;
  /** The session id from a validly signed cookie, when the UI header is present. */
  sessionId?: string;
}

export interface AuthenticatorParts {
  htpasswd?: HtpasswdStore;
  apiKeys?: ApiKeyStore;
  /** Present whenever some way of signing in is configured. */
  sessions?: SessionStore;
  users: UserDirectory;
  /** Groups accessControl gives a user name (htpasswd users). */
  groupsOf(username: string): string[];
}

const identity = (username: string, groups: readonly string[], method: Identity['method']): Authentication => ({
  kind: 'identity',
  identity: Object.freeze({ username, groups: Object.freeze([...groups]), method }),
});

export class Authenticator {
  private readonly cache = new CredentialCache();

  constructor(private readonly parts: AuthenticatorParts) {}

  /** Whether any way of signing in is configured; without one the registry is open. */
  get configured(): boolean {
    return this.parts.sessions !== undefined;
  }

  async authenticate({ authorization, sessionId }: Credentials): Promise<Authentication> {
    if (!this.configured) return { kind: 'anonymous' };
    if (authorization !== undefined) return this.basic(authorization);
    if (sessionId !== undefined && this.parts.sessions) {
      const session = await this.parts.sessions.get(sessionId);
      if (!session) return { kind: 'rejected', reason: 'the session has expired or was signed out' };
      // Removing a user from htpasswd ends their password sessions too, not only their password.
      if (session.provider === 'htpasswd' && !this.parts.htpasswd?.has(session.username)) return { kind: 'rejected', reason: 'the account no longer exists' };
      return identity(session.username, session.groups, 'session');
    }
    return { kind: 'anonymous' };
  }

  private async basic(authorization: string): Promise<Authentication> {
    const credentials = parseBasic(authorization);
    if (!credentials) return { kind: 'rejected', reason: 'unsupported authorization scheme; use Basic' };
    if (credentials.ok === 'empty') return { kind: 'anonymous' };
    if (!credentials.ok) return { kind: 'rejected', reason: credentials.reason };
    const { username, password } = credentials;
    const { apiKeys, htpasswd, users, groupsOf } = this.parts;
    if (apiKeys && password.startsWith(API_KEY_PREFIX)) {
      if (!(await apiKeys.verify(username, password))) return { kind: 'rejected', reason: 'invalid, expired or revoked API key' };
      // The groups of the owner's last provider sign-in; for an htpasswd user, those accessControl
      // gives, as long as the user is still in htpasswd: removing the user revokes their keys.
      const providerUser = await users.get(username);
      if (!providerUser && !htpasswd?.has(username)) return { kind: 'rejected', reason: 'the key belongs to an account that no longer exists' };
      return identity(username, providerUser?.groups ?? groupsOf(username), 'apikey');
    }
    if (!htpasswd) return { kind: 'rejected', reason: 'invalid username or password' };
    const { generation } = htpasswd;
    const verified = this.cache.has(username, password, generation) || (await htpasswd.verify(username, password));
    if (!verified) return { kind: 'rejected', reason: 'invalid username or password' };
    this.cache.add(username, password, generation);
    return identity(username, groupsOf(username), 'htpasswd');
  }
}
