/**
 * The live authentication and authorization state: htpasswd users, OpenID providers, sessions, API
 * keys and the compiled accessControl policy. `apply` swaps in a new config's state without a
 * restart; requests in flight keep the state they started with.
 *
 * Sessions, users and API keys are records of the coordination: Redis when replicas share one (a
 * session started on one replica works on all, signing out anywhere ends it everywhere), else the
 * files under `<root>/_berth/`. What an identity may do is decided at each request from the
 * config of that moment (authenticator.ts): a reload changes it for sessions and keys at once.
 */
import { AccessPolicy } from '../access/policy.js';
import type { BerthConfig, OidcProviderConfig } from '../config/config.js';
import type { Coordination } from '../coordination/coordination.js';
import { ApiKeyStore } from './api-keys.js';
import { Authenticator } from './authenticator.js';
import { loadCookieKeys, sameCookieKeys, sharedCookieKeys, type CookieKeys } from './cookie-keys.js';
import { HtpasswdStore } from './htpasswd.js';
import type { OidcProvider } from './oidc.js';
import { SessionStore } from './sessions.js';
import { UserDirectory } from './user-directory.js';
import type { BearerTokens } from './bearer-tokens.js';

export interface SecurityLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface SecurityOptions {
  /** Where sessions, users and API keys live: the files under the storage root, or Redis (backends.ts decides). */
  coordination: Coordination;
  /** Verifies registry and workload ID tokens (src/workload/), used while http.auth.bearer is configured. */
  bearer?: BearerTokens;
}

/** How often a replica checks the cookie keys shared through the coordination (Redis may lose them). */
const COOKIE_KEYS_REFRESH_MS = 60_000;
/** How soon it tries again while it has only stand-in keys (the coordination was down at start). */
const COOKIE_KEYS_RETRY_MS = 5_000;
/** A sign-in's state stays refused this long after its callback: longer than the login cookie lives. */
const USED_LOGIN_TTL_MS = 10 * 60_000;

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
  /**
   * When http.auth.bearer is configured (else /v2 challenges with Basic): the Bearer challenge's
   * realm and service, and the trusted workload issuers (whose `<issuer>/` names are workloads').
   */
  bearer: { realm?: string; service?: string; issuers: string[] } | undefined;
  readonly sessions: SessionStore;
  readonly users: UserDirectory;
  readonly apiKeys: ApiKeyStore;
  /** Read at each use: keys shared through the coordination can be replaced while Berth runs. */
  cookieKeys: CookieKeys;
  private cookieKeysTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly log: SecurityLog,
    cookieKeys: CookieKeys,
    private readonly coordination: Coordination,
    /** Whether the cookie keys come from the coordination (shared, no sessionKeysFile). */
    private readonly sharesKeys: boolean,
    private readonly bearerTokens: BearerTokens | undefined,
  ) {
    this.cookieKeys = cookieKeys;
    this.sessions = new SessionStore(coordination.records('sessions'));
    this.users = new UserDirectory(coordination.records('users'), coordination.locks);
    this.apiKeys = new ApiKeyStore(coordination);
  }

  static async create(config: BerthConfig, log: SecurityLog, options: SecurityOptions): Promise<Security> {
    const { coordination } = options;
    const { sessionKeysFile } = config.http.auth;
    const shareKeys = sessionKeysFile === undefined && coordination.shared;
    let cookieKeys: CookieKeys;
    if (shareKeys) {
      try {
        cookieKeys = await sharedCookieKeys(coordination);
        log.info(`cookie keys are shared by the replicas through ${coordination.kind}`);
      } catch (error) {
        log.error(`cookie keys cannot be read from ${coordination.kind} (${(error as Error).message}): using keys of this replica until it answers; sessions and sign-ins started meanwhile end then`);
        cookieKeys = await loadCookieKeys(undefined);
      }
    } else {
      cookieKeys = await loadCookieKeys(sessionKeysFile);
      if (config.http.auth.openid && !cookieKeys.persistent) {
        log.warn('http.auth.sessionKeysFile is not set: cookie keys are random, so sign-ins in progress end at every restart');
      }
    }
    const security = new Security(log, cookieKeys, coordination, shareKeys, options.bearer);
    if (shareKeys) security.followSharedCookieKeys(cookieKeys.persistent ? COOKIE_KEYS_REFRESH_MS : COOKIE_KEYS_RETRY_MS);
    await security.apply(config);
    return security;
  }

  /**
   * Marks a browser sign-in (its OpenID `state`) as finished; false when it already was, on any
   * replica: a replayed or doubled callback is refused even while its login cookie is still valid.
   */
  async claimLogin(state: string): Promise<boolean> {
    const used = this.coordination.records<true>('used-logins');
    return this.coordination.locks.run(`used-login:${state}`, async () => {
      if ((await used.get(state)) !== undefined) return false;
      await used.set(state, true, { ttlMs: USED_LOGIN_TTL_MS });
      return true;
    });
  }

  /**
   * Adopts the cookie keys shared through the coordination when they differ from this replica's:
   * once it answers (if it did not at start), and after Redis lost them (and with them every
   * session). Throws UNAVAILABLE when the coordination does not answer. Nothing to do when the
   * keys come from sessionKeysFile or the coordination is not shared.
   */
  async refreshCookieKeys(): Promise<void> {
    if (!this.sharesKeys) return;
    const keys = await sharedCookieKeys(this.coordination);
    if (sameCookieKeys(keys, this.cookieKeys)) return;
    this.log.warn(
      this.cookieKeys.persistent
        ? `the cookie keys shared through ${this.coordination.kind} changed: sessions signed with the previous keys end`
        : `cookie keys are now shared by the replicas through ${this.coordination.kind}`,
    );
    this.cookieKeys = keys;
  }

  private followSharedCookieKeys(delayMs: number): void {
    this.cookieKeysTimer = setTimeout(async () => {
      let next = COOKIE_KEYS_REFRESH_MS;
      try {
        await this.refreshCookieKeys();
      } catch {
        // The coordination logs its own outages.
        if (!this.cookieKeys.persistent) next = COOKIE_KEYS_RETRY_MS;
      }
      if (!this.closed) this.followSharedCookieKeys(next);
    }, delayMs);
    this.cookieKeysTimer.unref();
  }

  async apply(config: BerthConfig): Promise<void> {
    const { htpasswdPath, failDelayMs, openid, apikey, secureSession } = config.http.auth;
    let htpasswd = this.htpasswd;
    if (htpasswd?.file !== htpasswdPath) {
      htpasswd = htpasswdPath === undefined ? undefined : await HtpasswdStore.open(htpasswdPath);
      htpasswd?.watch(this.log);
    }
    const providers = await this.reconcileProviders(openid?.providers ?? []);
    const bearerConfig = config.http.auth.bearer;
    const bearer = bearerConfig && this.bearerTokens ? this.bearerTokens : undefined;
    const signInConfigured = htpasswd !== undefined || providers.size > 0 || (bearerConfig?.oidc.length ?? 0) > 0;
    const policy = AccessPolicy.compile(config.http.accessControl, signInConfigured);
    // Swap everything at once, after everything that can fail has succeeded.
    if (htpasswd !== this.htpasswd) this.htpasswd?.close();
    for (const [key, provider] of this.providers) if (providers.get(key) !== provider) provider.stop();
    this.htpasswd = htpasswd;
    this.providers = providers;
    this.policy = policy;
    this.bearer =
      bearer && bearerConfig
        ? {
            ...(bearerConfig.realm ? { realm: bearerConfig.realm } : {}),
            ...(bearerConfig.service ? { service: bearerConfig.service } : {}),
            issuers: bearerConfig.oidc.map((entry) => entry.issuer),
          }
        : undefined;
    this.apiKeysEnabled = apikey;
    this.authenticator = new Authenticator({
      ...(htpasswd ? { htpasswd } : {}),
      ...(apikey ? { apiKeys: this.apiKeys } : {}),
      ...(signInConfigured ? { sessions: this.sessions } : {}),
      users: this.users,
      ...(bearer ? { bearer } : {}),
      providers: new Set(providers.keys()),
      groupsOf: (username) => policy.groupsOf(username),
    });
    this.failDelayMs = failDelayMs;
    this.realm = config.http.realm;
    this.callbackAllowOrigins = openid?.callbackAllowOrigins ?? [];
    this.externalUrl = config.http.externalUrl;
    this.secureCookies = secureSession || config.http.tls !== undefined || (config.http.externalUrl?.startsWith('https://') ?? false);
  }

  /**
   * Keeps a running provider whose config did not change (no rediscovery), starts new ones.
   * openid-client loads with the first provider: a registry without OpenID sign-in does without it.
   */
  private async reconcileProviders(configs: OidcProviderConfig[]): Promise<Map<string, OidcProvider>> {
    const next = new Map<string, OidcProvider>();
    if (configs.length === 0) return next;
    const { OidcProvider } = await import('./oidc.js');
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

  /** Stops watchers and timers; the coordination belongs to the caller, who closes it. */
  close(): void {
    this.closed = true;
    clearTimeout(this.cookieKeysTimer);
    this.htpasswd?.close();
    for (const provider of this.providers.values()) provider.stop();
  }
}
