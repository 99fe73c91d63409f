/**
 * The live authentication and authorization state: htpasswd users, OpenID providers, sessions, API
 * keys and the compiled accessControl policy. `apply` swaps in a new config's state without a
 * restart; requests in flight keep the state they started with.
 */
import { AccessPolicy } from '../access/policy.js';
import type { BerthConfig, OidcProviderConfig } from '../config/config.js';
import { JsonDocument } from '../storage/json-document.js';
import { Layout } from '../storage/layout.js';
import { ApiKeyStore, type ApiKeysFile } from './api-keys.js';
import { Authenticator } from './authenticator.js';
import { loadCookieKeys, type CookieKeys } from './cookie-keys.js';
import { HtpasswdStore } from './htpasswd.js';
import { OidcProvider } from './oidc.js';
import { SessionStore, type SessionsFile } from './sessions.js';
import { UserDirectory, type UsersFile } from './user-directory.js';

export interface SecurityLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export class Security {
  policy!: AccessPolicy;
  authenticator!: Authenticator;
  failDelayMs = 0;
  realm = '';
  /** Set when any provider is configured: browser sign-in and sessions are on. */
  providers = new Map<string, OidcProvider>();
  callbackAllowOrigins: string[] = [];
  secureCookies = false;
  externalUrl: string | undefined;
  apiKeysEnabled = false;
  htpasswd: HtpasswdStore | undefined;
  readonly sessions: SessionStore;
  readonly users: UserDirectory;
  readonly apiKeys: ApiKeyStore;

  private constructor(
    private readonly log: SecurityLog,
    readonly cookieKeys: CookieKeys,
    layout: Layout,
  ) {
    this.sessions = new SessionStore(new JsonDocument<SessionsFile>(layout.stateDocument('sessions'), () => ({ sessions: {} })));
    this.users = new UserDirectory(new JsonDocument<UsersFile>(layout.stateDocument('users'), () => ({ users: {} })));
    this.apiKeys = new ApiKeyStore(new JsonDocument<ApiKeysFile>(layout.stateDocument('api-keys'), () => ({ keys: {} })));
  }

  static async create(config: BerthConfig, log: SecurityLog): Promise<Security> {
    const cookieKeys = await loadCookieKeys(config.http.auth.sessionKeysFile);
    if (config.http.auth.openid && !cookieKeys.persistent) {
      log.warn('http.auth.sessionKeysFile is not set: cookie keys are random, so sign-ins in progress end at every restart');
    }
    const security = new Security(log, cookieKeys, new Layout(config.storage.rootDirectory));
    await security.apply(config);
    return security;
  }

  async apply(config: BerthConfig): Promise<void> {
    const { htpasswdPath, failDelayMs, openid, apikey, secureSession } = config.http.auth;
    let htpasswd = this.htpasswd;
    if (htpasswd?.file !== htpasswdPath) {
      htpasswd = htpasswdPath === undefined ? undefined : await HtpasswdStore.open(htpasswdPath);
      htpasswd?.watch(this.log);
    }
    const providers = this.reconcileProviders(openid?.providers ?? []);
    const signInConfigured = htpasswd !== undefined || providers.size > 0;
    const policy = AccessPolicy.compile(config.http.accessControl, signInConfigured);
    // Swap everything at once, after everything that can fail has succeeded.
    if (htpasswd !== this.htpasswd) this.htpasswd?.close();
    for (const [key, provider] of this.providers) if (providers.get(key) !== provider) provider.stop();
    this.htpasswd = htpasswd;
    this.providers = providers;
    this.policy = policy;
    this.apiKeysEnabled = apikey;
    this.authenticator = new Authenticator({
      ...(htpasswd ? { htpasswd } : {}),
      ...(apikey ? { apiKeys: this.apiKeys } : {}),
      ...(signInConfigured ? { sessions: this.sessions } : {}),
      users: this.users,
      groupsOf: (username) => policy.groupsOf(username),
    });
    this.failDelayMs = failDelayMs;
    this.realm = config.http.realm;
    this.callbackAllowOrigins = openid?.callbackAllowOrigins ?? [];
    this.externalUrl = config.http.externalUrl;
    this.secureCookies = secureSession || config.http.tls !== undefined || (config.http.externalUrl?.startsWith('https://') ?? false);
  }

  /** Keeps a running provider whose config did not change (no rediscovery), starts new ones. */
  private reconcileProviders(configs: OidcProviderConfig[]): Map<string, OidcProvider> {
    const next = new Map<string, OidcProvider>();
    for (const config of configs) {
      const current = this.providers.get(config.key);
      if (current && JSON.stringify(current.config) === JSON.stringify(config)) {
        next.set(config.key, current);
        continue;
      }
      const provider = new OidcProvider(config, this.log);
      provider.start();
      next.set(config.key, provider);
    }
    return next;
  }

  close(): void {
    this.htpasswd?.close();
    for (const provider of this.providers.values()) provider.stop();
  }
}
