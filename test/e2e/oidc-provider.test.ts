/**
 * Self-test of the OpenID Provider harness (test/helpers/oidc-provider.ts) and of its HTTP login
 * driver (test/helpers/oidc-login.ts), without Berth: a tiny relying party built on openid-client 6
 * (the library Berth will use) runs the authorization code flow against the provider, over real
 * HTTP on 127.0.0.1, and checks what Berth will rely on: Pocket-ID-like discovery, groups in the ID
 * token and in UserInfo, PKCE (required for public clients and for flagged confidential clients),
 * state round-trip, single-use codes, runtime group changes, and RP-initiated logout with and
 * without a confirmation page.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CookieJar, OidcDriverError, fetchWithJar, loginThroughProvider, logoutThroughProvider } from '../helpers/oidc-login.js';
import { SIGNING_ALGS, startOidcProvider, subFor, type OidcTestProvider } from '../helpers/oidc-provider.js';

const SCOPE = 'openid profile email groups';

interface Transaction {
  state: string;
  nonce: string;
  verifier: string | undefined;
}

interface CallbackOutcome {
  state: string;
  idToken: string;
  idClaims: Record<string, unknown>;
  userinfo: Record<string, unknown>;
  refreshToken: string | undefined;
}

/**
 * A minimal relying party: `GET /login` (add `?pkce=0` to omit PKCE, `?scope=` to change scopes)
 * stores a transaction under a cookie and redirects to the provider; `GET /callback` checks state,
 * nonce and PKCE through openid-client, fetches UserInfo and answers 302 + a session cookie (401 on
 * failure). Transactions are kept after use so a test can replay a code with its real verifier.
 */
class TinyRelyingParty {
  readonly outcomes: CallbackOutcome[] = [];
  readonly failures: string[] = [];
  readonly #transactions = new Map<string, Transaction>();

  private constructor(
    readonly server: Server,
    readonly url: string,
    readonly config: client.Configuration,
  ) {}

  get callbackUrl(): string {
    return `${this.url}/callback`;
  }

  static async start(op: OidcTestProvider, clientId: string, clientSecret: string | undefined, secretMethod: 'basic' | 'post' = 'basic'): Promise<TinyRelyingParty> {
    const auth = clientSecret === undefined ? client.None() : secretMethod === 'post' ? client.ClientSecretPost(clientSecret) : client.ClientSecretBasic(clientSecret);
    const config = await client.discovery(new URL(op.issuer), clientId, clientSecret, auth, { execute: [client.allowInsecureRequests] });
    let rp: TinyRelyingParty | undefined;
    const server = createServer((req, res) => {
      rp!.handle(req.url ?? '/', req.headers.cookie ?? '').then(
        ({ status, headers }) => res.writeHead(status, headers).end(),
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    rp = new TinyRelyingParty(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, config);
    return rp;
  }

  async handle(path: string, cookieHeader: string): Promise<{ status: number; headers: Record<string, string | string[]> }> {
    const url = new URL(path, this.url);
    if (url.pathname === '/login') {
      const tx: Transaction = {
        state: client.randomState(),
        nonce: client.randomNonce(),
        verifier: url.searchParams.get('pkce') === '0' ? undefined : client.randomPKCECodeVerifier(),
      };
      this.#transactions.set(tx.state, tx);
      const parameters: Record<string, string> = {
        redirect_uri: this.callbackUrl,
        scope: url.searchParams.get('scope') ?? SCOPE,
        state: tx.state,
        nonce: tx.nonce,
      };
      if (tx.verifier !== undefined) {
        parameters.code_challenge = await client.calculatePKCECodeChallenge(tx.verifier);
        parameters.code_challenge_method = 'S256';
      }
      return {
        status: 302,
        headers: {
          location: client.buildAuthorizationUrl(this.config, parameters).href,
          'set-cookie': `rp_tx=${tx.state}; Path=/callback; HttpOnly; SameSite=Lax`,
        },
      };
    }
    if (url.pathname === '/callback') {
      const cookieState = /(?:^|;\s*)rp_tx=([^;]+)/.exec(cookieHeader)?.[1];
      const tx = cookieState === undefined ? undefined : this.#transactions.get(cookieState);
      if (!tx) return this.#refuse('no transaction cookie');
      try {
        const tokens = await client.authorizationCodeGrant(this.config, url, {
          pkceCodeVerifier: tx.verifier,
          expectedState: tx.state,
          expectedNonce: tx.nonce,
          idTokenExpected: true,
        });
        const idClaims = tokens.claims();
        if (!idClaims || tokens.id_token === undefined) return this.#refuse('no ID token');
        const userinfo = await client.fetchUserInfo(this.config, tokens.access_token, idClaims.sub);
        this.outcomes.push({
          state: tx.state,
          idToken: tokens.id_token,
          idClaims: { ...idClaims },
          userinfo: { ...userinfo },
          refreshToken: tokens.refresh_token,
        });
        return {
          status: 302,
          headers: {
            location: '/home',
            'set-cookie': [`rp_session=${randomBytes(16).toString('hex')}; Path=/; HttpOnly; SameSite=Lax`, 'rp_tx=; Path=/callback; Max-Age=0'],
          },
        };
      } catch (error) {
        const code = (error as { error?: unknown }).error;
        const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
        const reason = error instanceof Error ? `${error.name}: ${error.message}${cause}` : String(error);
        return this.#refuse(typeof code === 'string' ? `${reason} [${code}]` : reason);
      }
    }
    return { status: 404, headers: {} };
  }

  #refuse(reason: string): { status: number; headers: Record<string, string> } {
    this.failures.push(reason);
    return { status: 401, headers: { 'x-failure': encodeURIComponent(reason) } };
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}

let op: OidcTestProvider;
/** Public client (no secret): PKCE always required. */
let publicRp: TinyRelyingParty;
/** Confidential client with Pocket ID's "PKCE" flag on. */
let strictRp: TinyRelyingParty;
/** Confidential client without the flag: zot's style (secret, no PKCE); client_secret_post like Berth. */
let zotStyleRp: TinyRelyingParty;

beforeAll(async () => {
  op = await startOidcProvider();
  publicRp = await TinyRelyingParty.start(op, 'public-rp', undefined);
  strictRp = await TinyRelyingParty.start(op, 'strict-rp', 'strict-secret');
  zotStyleRp = await TinyRelyingParty.start(op, 'zot-style-rp', 'zot-secret', 'post');
  // Clients are registered after the RPs start: their redirect URIs contain their ports.
  await op.setClient({
    clientId: 'public-rp',
    redirectUris: [publicRp.callbackUrl],
    postLogoutRedirectUris: [`${publicRp.url}/logged-out`],
  });
  await op.setClient({
    clientId: 'strict-rp',
    clientSecret: 'strict-secret',
    requirePkce: true,
    redirectUris: [strictRp.callbackUrl],
  });
  await op.setClient({
    clientId: 'zot-style-rp',
    clientSecret: 'zot-secret',
    redirectUris: [zotStyleRp.callbackUrl],
    postLogoutRedirectUris: [`${zotStyleRp.url}/login`],
  });
});

afterEach(() => {
  expect(op.errors).toEqual([]);
});

afterAll(async () => {
  await Promise.all([publicRp?.close(), strictRp?.close(), zotStyleRp?.close()]);
  await op?.close();
});

describe('OIDC provider harness', () => {
  it('publishes Pocket-ID-like discovery metadata over http on loopback', async () => {
    const metadata = publicRp.config.serverMetadata();
    expect(op.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(metadata.issuer).toBe(op.issuer);
    expect(metadata.authorization_endpoint).toBe(`${op.issuer}/authorize`);
    expect(metadata.token_endpoint).toBe(`${op.issuer}/api/oidc/token`);
    expect(metadata.userinfo_endpoint).toBe(`${op.issuer}/api/oidc/userinfo`);
    expect(metadata.end_session_endpoint).toBe(`${op.issuer}/api/oidc/end-session`);
    expect(metadata.jwks_uri).toBe(`${op.issuer}/.well-known/jwks.json`);
    expect(metadata.response_types_supported).toEqual(['code']);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.id_token_signing_alg_values_supported).toEqual(['RS256']);
    expect(metadata.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email', 'groups']));
    expect(metadata.claims_supported).toEqual(expect.arrayContaining(['sub', 'email', 'email_verified', 'preferred_username', 'name', 'groups']));
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'none']));
    const jwks = (await (await fetch(op.endpoints.jwks)).json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: op.publicJwk.kid });
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });

  it('logs alice in with a public client (PKCE): groups in the ID token and UserInfo, state round-trips', async () => {
    const login = await loginThroughProvider({ startUrl: `${publicRp.url}/login`, username: 'alice' });

    expect(login.loginShown).toBe(true);
    expect(login.consentShown).toBe(true);
    expect(`${login.callbackUrl.origin}${login.callbackUrl.pathname}`).toBe(publicRp.callbackUrl);
    expect(login.callbackUrl.searchParams.get('iss')).toBe(op.issuer);
    expect(login.code).toBeTruthy();
    expect(login.response.status).toBe(302);
    expect(login.response.headers.get('location')).toBe('/home');
    expect(login.jar.get(publicRp.url, 'rp_session')?.httpOnly).toBe(true);
    expect(login.jar.get(publicRp.url, 'rp_tx')).toBeUndefined(); // cleared with Max-Age=0
    expect(publicRp.failures).toEqual([]);

    const outcome = publicRp.outcomes.at(-1)!;
    // The state the RP generated came back unchanged (openid-client checked it too).
    expect(login.state).toBe(outcome.state);
    expect(outcome.idClaims).toMatchObject({
      iss: op.issuer,
      aud: 'public-rp',
      sub: subFor('alice'),
      preferred_username: 'alice',
      name: 'Alice Example',
      given_name: 'Alice',
      family_name: 'Example',
      display_name: 'Alice Example',
      email: 'alice@example.org',
      // Pocket ID's default: an address is unverified unless an admin or the user confirmed it.
      email_verified: false,
      groups: ['admins', 'users'],
    });
    expect(outcome.userinfo).toMatchObject({
      sub: subFor('alice'),
      preferred_username: 'alice',
      email: 'alice@example.org',
      groups: ['admins', 'users'],
    });
    // Like Pocket ID, a refresh token comes with every code exchange.
    expect(outcome.refreshToken).toBeTruthy();
  });

  it('releases groups: [] for carol (in no group) and no groups claim without the groups scope', async () => {
    await loginThroughProvider({ startUrl: `${publicRp.url}/login`, username: 'carol' });
    const carol = publicRp.outcomes.at(-1)!;
    expect(carol.idClaims.preferred_username).toBe('carol');
    // Pocket ID sends the array even when it is empty.
    expect(carol.idClaims.groups).toEqual([]);
    expect(carol.userinfo.groups).toEqual([]);

    const scope = encodeURIComponent('openid profile email');
    await loginThroughProvider({ startUrl: `${publicRp.url}/login?scope=${scope}`, username: 'bob' });
    const bob = publicRp.outcomes.at(-1)!;
    expect(bob.idClaims.preferred_username).toBe('bob');
    expect(bob.idClaims).not.toHaveProperty('groups');
    expect(bob.userinfo).not.toHaveProperty('groups');
  });

  it("releases Pocket ID's claims per scope: email_verified only next to an email, and as set", async () => {
    op.users.set({ username: 'erin', name: 'Erin Q Example', groups: ['ops'] });
    op.users.set({ username: 'frank', email: 'frank@example.org', emailVerified: true });
    const claimsFor = async (username: string, scope: string) => {
      await loginThroughProvider({ startUrl: `${publicRp.url}/login?scope=${encodeURIComponent(scope)}`, username });
      const { idClaims, userinfo } = publicRp.outcomes.at(-1)!;
      expect(userinfo).toEqual(Object.fromEntries(Object.entries(idClaims).filter(([claim]) => claim in userinfo)));
      return userinfo;
    };
    // openid alone: the sub and nothing about the person.
    expect(await claimsFor('alice', 'openid')).toEqual({ sub: subFor('alice') });
    expect(await claimsFor('erin', 'openid profile')).toEqual({
      sub: subFor('erin'),
      preferred_username: 'erin',
      name: 'Erin Q Example',
      given_name: 'Erin',
      family_name: 'Q Example',
      display_name: 'Erin Q Example',
    });
    // A passkey-only user (no email): neither email nor email_verified.
    expect(await claimsFor('erin', 'openid email groups')).toEqual({ sub: subFor('erin'), groups: ['ops'] });
    expect(await claimsFor('frank', 'openid email')).toEqual({ sub: subFor('frank'), email: 'frank@example.org', email_verified: true });
  });

  it('refuses an authorization request without code_challenge when the client requires PKCE', async () => {
    for (const rp of [strictRp, publicRp]) {
      const refused = await loginThroughProvider({
        startUrl: `${rp.url}/login?pkce=0`,
        username: 'bob',
        stopBeforeCallback: true,
      });
      // Refused before any login: the error goes straight back to the registered redirect URI.
      expect(refused.loginShown).toBe(false);
      expect(refused.code).toBeUndefined();
      expect(refused.error).toBe('invalid_request');
      expect(refused.params.get('error_description')).toMatch(/PKCE/);
      expect(refused.state).toBeTruthy();
    }

    // The same confidential client with PKCE goes through.
    const ok = await loginThroughProvider({ startUrl: `${strictRp.url}/login`, username: 'bob' });
    expect(ok.response.status).toBe(302);
    expect(strictRp.outcomes.at(-1)?.idClaims).toMatchObject({ aud: 'strict-rp', groups: ['users'] });
  });

  it('lets a confidential client without the PKCE flag log in without PKCE (zot style)', async () => {
    // zot's example config also asks for a scope the provider does not know ("user"): ignored.
    const scope = encodeURIComponent('openid profile email groups user');
    const login = await loginThroughProvider({ startUrl: `${zotStyleRp.url}/login?pkce=0&scope=${scope}`, username: 'alice' });
    expect(login.response.status).toBe(302);
    expect(zotStyleRp.failures).toEqual([]);
    expect(zotStyleRp.outcomes.at(-1)?.userinfo).toMatchObject({ preferred_username: 'alice', groups: ['admins', 'users'] });
  });

  it('takes the client secret by Basic or in the body, and refuses wrong secrets and removed clients', async () => {
    // strictRp sends the secret with Basic, zotStyleRp (like Berth) in the body: both logged in
    // above. Client authentication is checked before the code, so a dummy code tells them apart.
    await op.setClient({ clientId: 'extra-rp', clientSecret: 'extra-secret', redirectUris: ['http://127.0.0.1:1/callback'] });
    const tokenError = (headers: Record<string, string>, extra: Record<string, string>) =>
      fetch(op.endpoints.token, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: 'not-a-code',
          redirect_uri: 'http://127.0.0.1:1/callback',
          ...extra,
        }),
      }).then(async (response) => ((await response.json()) as { error: string }).error);
    const basic = (secret: string) => ({ authorization: `Basic ${Buffer.from(`extra-rp:${secret}`).toString('base64')}` });
    expect(await tokenError(basic('extra-secret'), {})).toBe('invalid_grant');
    expect(await tokenError({}, { client_id: 'extra-rp', client_secret: 'extra-secret' })).toBe('invalid_grant');
    expect(await tokenError(basic('wrong'), {})).toBe('invalid_client');
    expect(await tokenError({}, { client_id: 'extra-rp', client_secret: 'wrong' })).toBe('invalid_client');
    expect(op.removeClient('extra-rp')).toBe(true);
    expect(await tokenError(basic('extra-secret'), {})).toBe('invalid_client');
  });

  it('stops before the callback so a test can tamper with it, and codes are single-use', async () => {
    const stopped = await loginThroughProvider({
      startUrl: `${publicRp.url}/login`,
      username: 'bob',
      stopBeforeCallback: true,
    });
    expect(stopped).not.toHaveProperty('response');
    expect(stopped.code).toBeTruthy();
    const before = publicRp.outcomes.length;

    // A forged state is refused by the RP (its transaction cookie names the real one).
    const forged = new URL(stopped.callbackUrl);
    forged.searchParams.set('state', 'forged');
    const refused = await fetchWithJar(stopped.jar, forged);
    expect(refused.status).toBe(401);
    expect(publicRp.failures.at(-1)).toMatch(/state/);

    // The genuine callback works once...
    const first = await fetchWithJar(stopped.jar, stopped.callbackUrl);
    expect(first.status).toBe(302);
    expect(publicRp.outcomes).toHaveLength(before + 1);

    // ...and replaying the code (same transaction, same PKCE verifier) is refused by the provider.
    const replayJar = new CookieJar();
    replayJar.store(publicRp.callbackUrl, [`rp_tx=${stopped.state}; Path=/callback`]);
    const replay = await fetchWithJar(replayJar, stopped.callbackUrl);
    expect(replay.status).toBe(401);
    expect(publicRp.failures.at(-1)).toMatch(/\[invalid_grant\]/);
    expect(publicRp.outcomes).toHaveLength(before + 1);
  });

  it('applies group changes at the next login, also when the provider session is reused', async () => {
    const first = await loginThroughProvider({ startUrl: `${publicRp.url}/login`, username: 'bob' });
    expect(publicRp.outcomes.at(-1)?.idClaims.groups).toEqual(['users']);

    op.users.setGroups('bob', ['users', 'developers']);
    // Same jar: the provider session and the grant are reused (no login form, no consent)...
    const again = await loginThroughProvider({ startUrl: `${publicRp.url}/login`, username: 'bob', jar: first.jar });
    expect(again.loginShown).toBe(false);
    expect(again.consentShown).toBe(false);
    // ...but claims are read afresh.
    expect(publicRp.outcomes.at(-1)?.idClaims.groups).toEqual(['users', 'developers']);
    expect(publicRp.outcomes.at(-1)?.userinfo.groups).toEqual(['users', 'developers']);

    op.users.setGroups('bob', []);
    await loginThroughProvider({ startUrl: `${publicRp.url}/login`, username: 'bob' });
    expect(publicRp.outcomes.at(-1)?.idClaims.groups).toEqual([]);

    op.users.set({ username: 'dave', email: 'dave@example.org', groups: ['ops'], password: 'pw' });
    await expect(loginThroughProvider({ startUrl: `${publicRp.url}/login`, username: 'dave', password: 'wrong' })).rejects.toMatchObject({
      name: 'OidcDriverError',
      status: 401,
      error: 'login_failed',
    });
    await loginThroughProvider({ startUrl: `${publicRp.url}/login`, username: 'dave', password: 'pw' });
    expect(publicRp.outcomes.at(-1)?.idClaims).toMatchObject({ preferred_username: 'dave', groups: ['ops'] });
    op.users.setGroups('bob', ['users']);
  });

  it('reports unknown users and sends access_denied when the user cancels', async () => {
    const error = await loginThroughProvider({ startUrl: `${publicRp.url}/login`, username: 'mallory' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OidcDriverError);
    expect((error as OidcDriverError).message).toMatch(/login refused for mallory/);

    for (const abortAt of ['login', 'consent'] as const) {
      const denied = await loginThroughProvider({
        startUrl: `${publicRp.url}/login`,
        username: 'alice',
        abortAt,
        stopBeforeCallback: true,
      });
      expect(denied.error).toBe('access_denied');
      expect(denied.code).toBeUndefined();
    }
  });

  it('ends the session without confirmation when id_token_hint is valid', async () => {
    const login = await loginThroughProvider({ startUrl: `${publicRp.url}/login`, username: 'alice' });
    const { idToken } = publicRp.outcomes.at(-1)!;
    const endSessionUrl = client.buildEndSessionUrl(publicRp.config, {
      id_token_hint: idToken,
      post_logout_redirect_uri: `${publicRp.url}/logged-out`,
      state: 'bye',
    });
    const out = await logoutThroughProvider({ endSessionUrl, jar: login.jar });
    expect(out.confirmationShown).toBe(false);
    expect(out.completed).toBe(true);
    expect(out.redirectUrl?.href).toBe(`${publicRp.url}/logged-out?state=bye`);
    expect(out.steps.map((step) => step.method)).toEqual(['GET', 'POST']);

    // The provider session is gone: the next login with the same jar asks for credentials again.
    const next = await loginThroughProvider({ startUrl: `${publicRp.url}/login`, username: 'alice', jar: login.jar });
    expect(next.loginShown).toBe(true);
  });

  it('asks for confirmation without id_token_hint (what zot sends)', async () => {
    const login = await loginThroughProvider({ startUrl: `${zotStyleRp.url}/login?pkce=0`, username: 'bob' });
    const endSessionUrl = client.buildEndSessionUrl(zotStyleRp.config, {
      client_id: 'zot-style-rp',
      post_logout_redirect_uri: `${zotStyleRp.url}/login`,
    });

    const declined = await logoutThroughProvider({ endSessionUrl, jar: login.jar, confirm: false });
    expect(declined).toMatchObject({ confirmationShown: true, completed: false, redirectUrl: undefined });
    const stillIn = await loginThroughProvider({ startUrl: `${zotStyleRp.url}/login?pkce=0`, username: 'bob', jar: login.jar });
    expect(stillIn.loginShown).toBe(false);

    const out = await logoutThroughProvider({ endSessionUrl, jar: login.jar });
    expect(out.confirmationShown).toBe(true);
    expect(out.redirectUrl?.href).toBe(`${zotStyleRp.url}/login`);
    const next = await loginThroughProvider({ startUrl: `${zotStyleRp.url}/login?pkce=0`, username: 'bob', jar: login.jar });
    expect(next.loginShown).toBe(true);

    // An unregistered post_logout_redirect_uri is an error page, not a redirect.
    const bad = client.buildEndSessionUrl(zotStyleRp.config, {
      client_id: 'zot-style-rp',
      post_logout_redirect_uri: 'http://127.0.0.1:1/elsewhere',
    });
    await expect(logoutThroughProvider({ endSessionUrl: bad, jar: login.jar })).rejects.toMatchObject({
      error: 'invalid_request',
    });
  });
});

describe('OIDC provider harness: signing keys and internal endpoints', () => {
  let own: OidcTestProvider | undefined;
  let rps: TinyRelyingParty[] = [];
  afterEach(async () => {
    await Promise.all(rps.map((rp) => rp.close()));
    rps = [];
    expect(own?.errors).toEqual([]);
    await own?.close();
    own = undefined;
  });

  /** A fresh RP that discovers `provider` now and verifies ID-token signatures against its JWKS. */
  async function verifyingRp(provider: OidcTestProvider, clientId: string): Promise<TinyRelyingParty> {
    const rp = await TinyRelyingParty.start(provider, clientId, undefined);
    client.enableNonRepudiationChecks(rp.config);
    await provider.setClient({ clientId, redirectUris: [rp.callbackUrl] });
    rps.push(rp);
    return rp;
  }

  const jwksOf = async (provider: OidcTestProvider) => ((await (await fetch(provider.endpoints.jwks)).json()) as { keys: Array<Record<string, unknown>> }).keys;

  it('rotates its one key like `pocket-id key-rotate --alg`: JWKS and discovery name only the new one', async () => {
    own = await startOidcProvider();
    const before = await verifyingRp(own, 'before-rotation');
    await loginThroughProvider({ startUrl: `${before.url}/login`, username: 'alice' });
    expect(before.failures).toEqual([]);
    const first = own.publicJwk.kid;

    const es256 = own.rotateKey({ alg: 'ES256' });
    expect(es256).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(es256.kid).not.toBe(first);
    expect(own.signingAlg).toBe('ES256');
    expect(await jwksOf(own)).toEqual([es256]);
    const metadata = (await (await fetch(own.discoveryUrl)).json()) as Record<string, unknown>;
    expect(metadata.id_token_signing_alg_values_supported).toEqual(['ES256']);

    // An RP holding the discovery of before the rotation refuses the new ID tokens, as Berth did
    // until it learnt to discover again (src/auth/oidc.ts).
    const refused = await loginThroughProvider({ startUrl: `${before.url}/login`, username: 'alice' });
    expect(refused.response.status).toBe(401);
    expect(before.failures.at(-1)).toMatch(/unexpected JWT "alg" header parameter/);

    // Every algorithm Pocket ID offers signs ID tokens that a freshly discovering RP verifies.
    for (const alg of SIGNING_ALGS) {
      const key = own.rotateKey({ alg });
      const rp = await verifyingRp(own, `after-${alg.toLowerCase()}`);
      expect(rp.config.serverMetadata().id_token_signing_alg_values_supported).toEqual([alg]);
      const login = await loginThroughProvider({ startUrl: `${rp.url}/login`, username: 'bob' });
      expect(login.response.status, rp.failures.join('; ')).toBe(302);
      expect(JSON.parse(Buffer.from(rp.outcomes.at(-1)!.idToken.split('.')[0]!, 'base64url').toString())).toMatchObject({ alg, kid: key.kid });
    }
    // Sessions survive the restart a rotation implies: no login form with the same jar.
    const jar = new CookieJar();
    const rp = await verifyingRp(own, 'session-keeper');
    await loginThroughProvider({ startUrl: `${rp.url}/login`, username: 'carol', jar });
    own.rotateKey();
    const again = await loginThroughProvider({ startUrl: `${rp.url}/login`, username: 'carol', jar });
    expect(again.loginShown).toBe(false);
  });

  it('signs with an unpublished key when told to (a forger), which a verifying RP refuses', async () => {
    own = await startOidcProvider();
    const published = own.publicJwk;
    const rp = await verifyingRp(own, 'verifier');
    own.rotateKey({ kid: published.kid, publish: false });
    expect(own.publicJwk.n).not.toBe(published.n);
    expect(await jwksOf(own)).toEqual([published]);
    const login = await loginThroughProvider({ startUrl: `${rp.url}/login`, username: 'alice' });
    expect(login.response.status).toBe(401);
    expect(rp.failures.at(-1)).toMatch(/signature verification failed/);
  });

  it("names token, UserInfo and JWKS under an internal http URL (Pocket ID's INTERNAL_APP_URL)", async () => {
    own = await startOidcProvider({ internalHost: 'localhost' });
    expect(own.internalUrl).toMatch(/^http:\/\/localhost:\d+$/);
    const metadata = (await (await fetch(own.discoveryUrl)).json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({
      issuer: own.issuer,
      authorization_endpoint: `${own.issuer}/authorize`,
      end_session_endpoint: `${own.issuer}/api/oidc/end-session`,
      token_endpoint: `${own.internalUrl}/api/oidc/token`,
      userinfo_endpoint: `${own.internalUrl}/api/oidc/userinfo`,
      jwks_uri: `${own.internalUrl}/.well-known/jwks.json`,
    });
    expect(own.endpoints.token).toBe(metadata.token_endpoint);
    const rp = await verifyingRp(own, 'in-cluster');
    const login = await loginThroughProvider({ startUrl: `${rp.url}/login`, username: 'bob' });
    expect(login.response.status, rp.failures.join('; ')).toBe(302);
    const internal = own.requests.filter((request) => request.internal).map((request) => `${request.method} ${request.url.split('?')[0]}`);
    expect(internal).toEqual(['POST /api/oidc/token', 'GET /.well-known/jwks.json', 'GET /api/oidc/userinfo']);
  });
});
