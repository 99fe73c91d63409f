/**
 * One OpenID Provider, through openid-client: discovery (oidc-discovery.ts; retried in the
 * background while the provider is down), the authorization redirect with state, nonce and PKCE
 * S256 (always, even for confidential clients: Pocket ID can require it), and the code exchange
 * with ID-token checks. When the provider changes its signing key or algorithm (`pocket-id
 * key-rotate`), the exchange that notices discovers again (at most once per 30 s) and validates
 * the same token answer against the fresh metadata (oidc-transport.ts): no restart needed.
 */
import * as client from 'openid-client';
import type { OidcProviderConfig } from '../config/config.js';
import { discoverProvider, EndpointsRefused, transportFor } from './oidc-discovery.js';
import { describeFailure, keysMayHaveChanged } from './oidc-failures.js';
import type { Exchange, ProviderTransport } from './oidc-transport.js';

/** What the login cookie carries from the redirect to the callback. */
export interface PendingLogin {
  provider: string;
  state: string;
  nonce: string;
  verifier: string;
  redirectUri: string;
  callbackUi?: string;
}

export interface ProviderLogin {
  username: string;
  /** The provider's `sub`: stable across renames, unlike the user name. */
  subject: string;
  groups: string[];
  idToken: string;
}

export class LoginError extends Error {}

interface Log {
  info(message: string): void;
  warn(message: string): void;
}

const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 60_000;
const DISCOVERY_TIMEOUT_S = 10;
/** A provider is discovered again because of a failed ID token at most this often. */
export const REDISCOVERY_INTERVAL_MS = 30_000;

/** A claim as a list of group names: arrays and single strings are accepted, anything else ignored. */
function groupsFrom(value: unknown): string[] {
  if (typeof value === 'string') return value === '' ? [] : [value];
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string' && item !== '');
  return [];
}

export class OidcProvider {
  private configuration: client.Configuration | undefined;
  private problem = 'discovery has not finished yet';
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly transport: ProviderTransport;
  private lastRediscovery = Number.NEGATIVE_INFINITY;
  private rediscovery: Promise<client.Configuration | undefined> | undefined;

  constructor(
    readonly config: OidcProviderConfig,
    private readonly log: Log,
  ) {
    this.transport = transportFor(config);
  }

  /** Starts discovery; failures are retried with backoff and never stop Berth. */
  start(): void {
    void this.discover(RETRY_MIN_MS);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Why sign-in cannot start now, or undefined when it can. */
  get unavailable(): string | undefined {
    return this.configuration ? undefined : this.problem;
  }

  private get name(): string {
    return `openid provider "${this.config.key}"`;
  }

  /** Discovers now; logs what it found, including endpoints it allows over plain http. */
  private async discoverNow(again: boolean): Promise<client.Configuration> {
    const { configuration, httpEndpoints } = await discoverProvider(this.config, this.transport, DISCOVERY_TIMEOUT_S);
    const algorithms = configuration.serverMetadata().id_token_signing_alg_values_supported ?? ['RS256'];
    const http = httpEndpoints.length === 0 ? '' : `; over plain http: ${httpEndpoints.map(({ field, url }) => `${field} ${url}`).join(', ')}`;
    this.log.info(`${this.name}: discovered ${this.config.issuer}${again ? ' again' : ''} (ID tokens signed with ${algorithms.join(', ')})${http}`);
    return configuration;
  }

  private async discover(nextDelayMs: number): Promise<void> {
    const { issuer } = this.config;
    try {
      this.configuration = await this.discoverNow(false);
    } catch (error) {
      this.problem =
        error instanceof EndpointsRefused
          ? `the identity provider at ${issuer} names endpoints Berth refuses: ${error.message}`
          : `the identity provider at ${issuer} cannot be reached (${describeFailure(error)})`;
      this.log.warn(`${this.name}: ${this.problem}; retrying in ${nextDelayMs / 1000}s`);
      if (!this.stopped) {
        this.timer = setTimeout(() => void this.discover(Math.min(nextDelayMs * 2, RETRY_MAX_MS)), nextDelayMs);
        this.timer.unref();
      }
    }
  }

  /**
   * A configuration newer than `stale`, for an exchange whose ID token did not validate against
   * it: the one another sign-in already fetched, the one being fetched, or a new discovery, at
   * most once per REDISCOVERY_INTERVAL_MS. undefined when none can be had now (logged with `cause`).
   */
  private async rediscover(stale: client.Configuration, cause: string): Promise<client.Configuration | undefined> {
    if (this.configuration !== stale) return this.configuration;
    if (this.rediscovery) return this.rediscovery;
    const now = Date.now();
    if (now - this.lastRediscovery < REDISCOVERY_INTERVAL_MS) {
      const when = new Date(this.lastRediscovery + REDISCOVERY_INTERVAL_MS).toISOString();
      this.log.warn(`${this.name}: sign-in failed: ${cause}; not discovering ${this.config.issuer} again before ${when} (at most once every ${REDISCOVERY_INTERVAL_MS / 1000} s)`);
      return undefined;
    }
    this.lastRediscovery = now;
    this.log.warn(`${this.name}: an ID token did not validate against the provider's keys as discovered (${cause}); its signing key may have changed: discovering ${this.config.issuer} again`);
    this.rediscovery = this.discoverNow(true).then(
      (configuration) => {
        this.configuration = configuration;
        return configuration;
      },
      (error: unknown) => {
        this.log.warn(`${this.name}: cannot discover ${this.config.issuer} again (${describeFailure(error)}); keeping what was discovered before`);
        return undefined;
      },
    );
    try {
      return await this.rediscovery;
    } finally {
      this.rediscovery = undefined;
    }
  }

  private ready(): client.Configuration {
    if (!this.configuration) throw new LoginError(this.problem);
    return this.configuration;
  }

  async beginLogin(redirectUri: string, callbackUi: string | undefined): Promise<{ url: string; pending: PendingLogin }> {
    const configuration = this.ready();
    const verifier = client.randomPKCECodeVerifier();
    const pending: PendingLogin = {
      provider: this.config.key,
      state: client.randomState(),
      nonce: client.randomNonce(),
      verifier,
      redirectUri,
      ...(callbackUi !== undefined ? { callbackUi } : {}),
    };
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: redirectUri,
      scope: this.config.scopes.join(' '),
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    return { url: url.href, pending };
  }

  /**
   * Exchanges the code; openid-client checks state, issuer, audience, nonce, alg, signature and
   * expiry. A failure on the provider's keys is retried once against fresh metadata, with the
   * token answer already received (the code cannot be exchanged twice).
   */
  async completeLogin(callbackUrl: URL, pending: PendingLogin): Promise<ProviderLogin> {
    let configuration = this.ready();
    const checks = { pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce, idTokenExpected: true };
    const exchange: Exchange = {};
    let tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
    try {
      tokens = await this.transport.run(exchange, () => client.authorizationCodeGrant(configuration, callbackUrl, checks));
    } catch (error) {
      const kept = exchange.kept;
      if (kept === undefined || !keysMayHaveChanged(error)) throw this.failure(error);
      const fresh = await this.rediscover(configuration, describeFailure(error));
      if (!fresh) throw new LoginError((error as Error).message);
      configuration = fresh;
      try {
        tokens = await this.transport.run({ replay: kept }, () => client.authorizationCodeGrant(fresh, callbackUrl, checks));
      } catch (again) {
        throw this.failure(again);
      }
    }
    const idClaims = tokens.claims();
    if (!idClaims || !tokens.id_token) throw new LoginError('the provider returned no ID token');
    const userInfo = await client.fetchUserInfo(configuration, tokens.access_token, idClaims.sub).catch((error: unknown) => {
      throw this.failure(error);
    });
    const { username: usernameClaim, groups: groupsClaim } = this.config.claimMapping;
    const pick = (claim: string) => {
      const value = userInfo[claim] ?? idClaims[claim];
      return typeof value === 'string' && value !== '' ? value : undefined;
    };
    // zot falls back to the email when the mapped claim is empty (passkey-only users may lack one).
    const username = pick(usernameClaim) ?? pick('email');
    const fromEmail = username !== undefined && pick(usernameClaim) === undefined ? true : usernameClaim === 'email';
    // An address the provider says it has not verified could be anyone's: never a user name.
    if (fromEmail && (userInfo.email_verified ?? idClaims.email_verified) === false) {
      throw new LoginError(
        'the provider has not verified this email address, which would be the user name (Pocket ID marks addresses unverified unless told otherwise; map claimMapping.username to "preferred_username")',
      );
    }
    if (username === undefined) {
      throw new LoginError(`the provider sent no "${usernameClaim}" claim${usernameClaim === 'email' ? '' : ' (nor "email")'}; check the scopes and claimMapping.username`);
    }
    const groups = [...new Set([...groupsFrom(userInfo[groupsClaim]), ...groupsFrom(idClaims[groupsClaim])])].sort();
    return { username, subject: idClaims.sub, groups, idToken: tokens.id_token };
  }

  /** Logs why openid-client refused (the cause chain, never a token) and says it briefly to the caller. */
  private failure(error: unknown): LoginError {
    this.log.warn(`${this.name}: sign-in failed: ${describeFailure(error)}`);
    return new LoginError((error as Error).message);
  }

  /** RP-initiated logout, with `id_token_hint` so the provider needs no confirmation. */
  endSessionUrl(idToken: string | undefined, postLogoutRedirectUri: string): string | undefined {
    if (!this.configuration?.serverMetadata().end_session_endpoint) return undefined;
    return client.buildEndSessionUrl(this.configuration, {
      post_logout_redirect_uri: postLogoutRedirectUri,
      ...(idToken ? { id_token_hint: idToken } : {}),
    }).href;
  }
}
