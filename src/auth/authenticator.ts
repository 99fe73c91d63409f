/**
 * Decides who a request comes from. In order: HTTP Basic (an API key as the password of its owner's
 * user name, else the htpasswd password), then a browser session, which counts only when the request
 * carries zot's `X-ZOT-API-CLIENT: zot-ui` header (a cookie alone is ignored: it would make every
 * cross-site form a request with the user's rights).
 *
 * Whatever the credential, the identity is made afresh at each request from the running config:
 * - its groups are the config's (`accessControl.groups`) of this moment, merged with the
 *   provider's groups of the user's last sign-in (none for htpasswd): removing a user from a group
 *   in the config takes effect at their next request, session or key alike;
 * - an htpasswd identity exists while the user is in the htpasswd file;
 * - an OpenID identity exists while its provider is configured and the user name is still bound
 *   to the subject (`sub`) the session or key was made for (user-directory.ts): a provider removed
 *   from the config, or a name released and taken by someone else, ends its sessions and keys.
 * - a workload identity (an ID token of http.auth.bearer.oidc, as `Authorization: Bearer` or as a
 *   Basic password) is the token's mapped user name and groups (src/workload/); a name that is an
 *   htpasswd account or is bound to an SSO user is refused, never merged: a workload cannot borrow
 *   a person's rights by its claims.
 * - a registry token (`Authorization: Bearer`, from the token endpoint) is the identity it was
 *   issued to, limited to its grants; an htpasswd account removed since ends it at once, others
 *   end with the token (minutes).
 */
import type { Identity } from '../access/policy.js';
import { API_KEY_PREFIX, type ApiKeyStore } from './api-keys.js';
import { parseBasic } from './basic-credentials.js';
import { CredentialCache } from './credential-cache.js';
import type { HtpasswdStore } from './htpasswd.js';
import type { SessionStore } from './sessions.js';
import type { UserDirectory } from './user-directory.js';
import { looksLikeJwt, type BearerTokens, type Grants } from './bearer-tokens.js';

export type Authentication =
  | { kind: 'anonymous' }
  /** `grants`: a registry token's scopes; the identity may do no more than they allow. */
  | { kind: 'identity'; identity: Identity; grants?: Grants }
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
  /** The keys of the OpenID providers in the running config. */
  providers: ReadonlySet<string>;
  /** Verifies registry tokens and workload ID tokens, when http.auth.bearer is configured. */
  bearer?: BearerTokens;
  /** The groups accessControl gives a user name. */
  groupsOf(username: string): string[];
}

/** The provider that vouches for htpasswd users, in sessions and API keys. */
export const HTPASSWD = 'htpasswd';

const rejected = (reason: string): Authentication => ({ kind: 'rejected', reason });

export class Authenticator {
  private readonly cache = new CredentialCache();

  constructor(private readonly parts: AuthenticatorParts) {}

  /** Whether any way of signing in is configured; without one the registry is open. */
  get configured(): boolean {
    return this.parts.sessions !== undefined;
  }

  async authenticate({ authorization, sessionId }: Credentials): Promise<Authentication> {
    if (!this.configured) return { kind: 'anonymous' };
    if (authorization !== undefined) {
      const bearer = /^Bearer +(\S+) *$/i.exec(authorization);
      if (bearer && this.parts.bearer) return this.bearerToken(bearer[1]!);
      return this.basic(authorization);
    }
    if (sessionId !== undefined && this.parts.sessions) {
      const session = await this.parts.sessions.get(sessionId);
      if (!session) return rejected('the session has expired or was signed out');
      return this.account(session.username, session.provider, session.subject, 'session');
    }
    return { kind: 'anonymous' };
  }

  private async basic(authorization: string): Promise<Authentication> {
    const credentials = parseBasic(authorization);
    if (!credentials) return rejected('unsupported authorization scheme; use Basic');
    if (credentials.ok === 'empty') return { kind: 'anonymous' };
    if (!credentials.ok) return rejected(credentials.reason);
    const { username, password } = credentials;
    const { apiKeys, htpasswd, users, bearer } = this.parts;
    // `docker login -u ci -p "$ID_TOKEN"`: the user name is the client's placeholder, the token says who.
    if (bearer?.acceptsIdTokens && looksLikeJwt(password)) return this.bearerToken(password, 'workload');
    if (apiKeys && password.startsWith(API_KEY_PREFIX)) {
      const key = await apiKeys.verify(username, password);
      if (!key) return rejected('invalid, expired or revoked API key');
      // Keys of older versions name no provider: the owner's provider record, else htpasswd.
      const provider = key.provider ?? (await users.get(username))?.provider ?? HTPASSWD;
      return this.account(username, provider, key.subject, 'apikey');
    }
    if (!htpasswd) return rejected('invalid username or password');
    const { generation } = htpasswd;
    const verified = this.cache.has(username, password, generation) || (await htpasswd.verify(username, password));
    if (!verified) return rejected('invalid username or password');
    this.cache.add(username, password, generation);
    return this.account(username, HTPASSWD, undefined, 'htpasswd');
  }

  /**
   * A bearer token as the credential: a registry token or a workload ID token (`only` limits it to
   * the latter, as a password must be: a registry token is no password).
   */
  async bearerToken(token: string, only?: 'workload'): Promise<Authentication> {
    const { bearer, htpasswd, users, groupsOf } = this.parts;
    if (!bearer || !looksLikeJwt(token)) return rejected('unsupported bearer token: the scheme takes a JWT (a registry or workload ID token)');
    const verdict = await bearer.verify(token);
    if (!verdict.ok) return rejected(verdict.reason);
    if (verdict.kind === 'registry') {
      if (only === 'workload') return rejected('a registry token is not a password');
      const { identity, grants } = verdict;
      if (identity.provider === HTPASSWD && identity.username !== undefined && !htpasswd?.has(identity.username)) return rejected('the account no longer exists');
      return { kind: 'identity', identity, grants };
    }
    const { username } = verdict;
    if (htpasswd?.has(username)) return rejected('workload token: the mapped user name is a local htpasswd account');
    if (await users.get(username)) return rejected('workload token: the mapped user name belongs to a user of an identity provider');
    const groups = [...new Set([...verdict.groups, ...groupsOf(username)])];
    const identity: Identity = { username, groups: Object.freeze(groups), method: 'workload', provider: verdict.issuer, subject: verdict.subject };
    return { kind: 'identity', identity: Object.freeze(identity) };
  }

  /** `username` as vouched for by `provider` (as `subject`), with the groups of this moment; or why not. */
  private async account(username: string, provider: string, subject: string | undefined, method: NonNullable<Identity['method']>): Promise<Authentication> {
    const { htpasswd, users, providers, groupsOf } = this.parts;
    let providerGroups: readonly string[] = [];
    if (provider === HTPASSWD) {
      // Removing a user from htpasswd ends their sessions and keys too, not only their password.
      if (!htpasswd?.has(username)) return rejected('the account no longer exists');
    } else {
      if (!providers.has(provider)) return rejected(`the identity provider "${provider}" is no longer configured`);
      // As at sign-in: a name that is (now) a local account is never a provider's user.
      if (htpasswd?.has(username)) return rejected('the user name is a local htpasswd account');
      const user = await users.get(username);
      if (!user || user.provider !== provider) return rejected('the account was released; sign in again');
      if (user.sub !== subject) return rejected('the user name is now bound to another user of the provider');
      providerGroups = user.groups;
    }
    const groups = [...new Set([...providerGroups, ...groupsOf(username)])];
    const identity: Identity = { username, groups: Object.freeze(groups), method, provider, ...(subject !== undefined ? { subject } : {}) };
    return { kind: 'identity', identity: Object.freeze(identity) };
  }
}
