/**
 * One OpenID Provider, through openid-client: discovery (retried in the background while the
 * provider is down), the authorization redirect with state, nonce and PKCE S256 (always, even for
 * confidential clients: Pocket ID can require it), and the code exchange with ID-token checks.
 */
import * as client from 'openid-client';
import type { OidcProviderConfig } from '../config/config.js';

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

  constructor(
    readonly config: OidcProviderConfig,
    private readonly log: Log,
  ) {}

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

  private async discover(nextDelayMs: number): Promise<void> {
    const { issuer, clientId, clientSecret, key } = this.config;
    try {
      const insecure = new URL(issuer).protocol === 'http:';
      this.configuration = await client.discovery(
        new URL(issuer),
        clientId,
        clientSecret,
        clientSecret === undefined ? client.None() : client.ClientSecretPost(clientSecret),
        { timeout: 10, ...(insecure ? { execute: [client.allowInsecureRequests] } : {}) },
      );
      this.log.info(`openid provider "${key}": discovered ${issuer}`);
    } catch (error) {
      this.problem = `the identity provider at ${issuer} cannot be reached (${(error as Error).message})`;
      this.log.warn(`openid provider "${key}": ${this.problem}; retrying in ${nextDelayMs / 1000}s`);
      if (!this.stopped) {
        this.timer = setTimeout(() => void this.discover(Math.min(nextDelayMs * 2, RETRY_MAX_MS)), nextDelayMs);
        this.timer.unref();
      }
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

  /** Exchanges the code; openid-client checks state, issuer, audience, nonce, signature and expiry. */
  async completeLogin(callbackUrl: URL, pending: PendingLogin): Promise<ProviderLogin> {
    const configuration = this.ready();
    const tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
      pkceCodeVerifier: pending.verifier,
      expectedState: pending.state,
      expectedNonce: pending.nonce,
      idTokenExpected: true,
    });
    const idClaims = tokens.claims();
    if (!idClaims || !tokens.id_token) throw new LoginError('the provider returned no ID token');
    const userInfo = await client.fetchUserInfo(configuration, tokens.access_token, idClaims.sub);
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
      throw new LoginError('the provider has not verified this email address, which would be the user name');
    }
    if (username === undefined) {
      throw new LoginError(`the provider sent no "${usernameClaim}" claim${usernameClaim === 'email' ? '' : ' (nor "email")'}; check the scopes and claimMapping.username`);
    }
    const groups = [...new Set([...groupsFrom(userInfo[groupsClaim]), ...groupsFrom(idClaims[groupsClaim])])].sort();
    return { username, subject: idClaims.sub, groups, idToken: tokens.id_token };
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
