/**
 * The provider changes its signing key while Berth runs (`pocket-id key-rotate --alg ES256`, then a
 * Pocket ID restart): the next sign-in must still work, without restarting Berth, and the log must
 * say why once. Berth discovers again (at most once per 30 s per provider) when an ID token fails
 * validation on its `alg`, its `kid` or its signature, and re-validates the token response it
 * already received (the code is single-use). A key the provider never published stays refused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startBerth, waitForDiscovery, type TestServer } from '../helpers/server.js';
import { startOidcProvider, type OidcTestProvider } from '../helpers/oidc-provider.js';
import { CookieJar, loginThroughProvider } from '../helpers/oidc-login.js';
import { json } from '../helpers/registry-api.js';

const DISCOVERY = '/.well-known/openid-configuration';
let op: OidcTestProvider | undefined;
let berth: TestServer | undefined;

afterEach(async () => {
  await berth?.close();
  expect(op?.errors).toEqual([]);
  await op?.close();
  berth = undefined;
  op = undefined;
});

/** A provider and a Berth signed in to it once (so the old key's JWKS is cached). */
async function signedInOnce(): Promise<{ op: OidcTestProvider; berth: TestServer }> {
  op = await startOidcProvider();
  berth = await startBerth({
    captureLog: true,
    config: {
      http: {
        auth: {
          openid: {
            providers: { oidc: { issuer: op.issuer, clientid: 'berth', clientsecret: 'rotation-secret', scopes: ['openid', 'profile', 'groups'], claimMapping: { username: 'preferred_username' } } },
          },
        },
      },
    },
  });
  await op.setClient({ clientId: 'berth', clientSecret: 'rotation-secret', redirectUris: [`${berth.url}/zot/auth/callback/oidc`] });
  await waitForDiscovery(berth);
  const first = await signIn(berth, 'alice');
  expect(first.response.status).toBe(302);
  return { op, berth };
}

function signIn(server: TestServer, username: string, jar = new CookieJar()) {
  return loginThroughProvider({ startUrl: `${server.url}/zot/auth/login?provider=oidc`, username, jar });
}

const discoveries = (provider: OidcTestProvider) => provider.requests.filter((request) => request.url === DISCOVERY).length;
const occurrences = (text: string, pattern: RegExp) => text.match(new RegExp(pattern.source, 'g'))?.length ?? 0;

describe('a provider that rotates its signing key', () => {
  it('RS256 → ES256: the next sign-ins work after one rediscovery, and the log names the cause once', async () => {
    const { op, berth } = await signedInOnce();
    expect(discoveries(op)).toBe(1);
    op.rotateKey({ alg: 'ES256' });
    // Two people at once: both get in, the provider is asked once.
    const [bob, carol] = await Promise.all([signIn(berth, 'bob'), signIn(berth, 'carol')]);
    expect(bob.response.status, await bob.response.clone().text()).toBe(302);
    expect(carol.response.status).toBe(302);
    expect(bob.jar.get(berth.url, 'user')?.value).toBe('bob');
    expect(discoveries(op)).toBe(2);
    const log = berth.logText();
    expect(occurrences(log, /unexpected JWT .{1,2}alg.{1,2} header parameter/)).toBe(1);
    expect(log).toMatch(/ES256/);
    expect(log).toMatch(/discovered .* again/);
    // The new key keeps working without further discovery.
    expect((await signIn(berth, 'alice')).response.status).toBe(302);
    expect(discoveries(op)).toBe(2);
    expect(log).not.toMatch(/eyJ[\w-]+\.eyJ/);
  });

  it('RS256 → RS256 under a new kid: the cached JWKS is fetched again', async () => {
    const { op, berth } = await signedInOnce();
    const jwksBefore = op.requests.filter((request) => request.url === '/.well-known/jwks.json').length;
    expect(jwksBefore).toBe(1);
    op.rotateKey({ alg: 'RS256' });
    const bob = await signIn(berth, 'bob');
    expect(bob.response.status, await bob.response.clone().text()).toBe(302);
    expect(op.requests.filter((request) => request.url === '/.well-known/jwks.json').length).toBe(2);
    expect(occurrences(berth.logText(), /no applicable keys found/)).toBe(1);
  });

  it('refuses an ID token signed by a key the provider does not publish, after one rediscovery', async () => {
    const { op, berth } = await signedInOnce();
    // Same kid, another key: only the signature tells them apart.
    op.rotateKey({ kid: op.publicJwk.kid!, publish: false });
    const forged = await signIn(berth, 'alice');
    expect(forged.response.status).toBe(401);
    expect((await json(forged.response)).errors[0].detail).toMatch(/^sign-in failed/);
    expect(forged.jar.get(berth.url, 'session')).toBeUndefined();
    expect(discoveries(op)).toBe(2);
    expect(berth.logText()).toMatch(/signature verification failed/);
  });

  it('discovers again at most once per 30 s, however many sign-ins fail', async () => {
    const { op, berth } = await signedInOnce();
    op.rotateKey({ alg: 'ES256' });
    expect((await signIn(berth, 'bob')).response.status).toBe(302);
    op.rotateKey({ alg: 'ES384' });
    for (const username of ['alice', 'bob', 'carol']) {
      const refused = await signIn(berth, username);
      expect(refused.response.status).toBe(401);
    }
    expect(discoveries(op)).toBe(2);
    expect(berth.logText()).toMatch(/not discovering .* again before/);
  });
});
