/**
 * Single sign-on against a real OpenID Provider (oidc-provider standing in for Pocket ID): the
 * whole browser flow over HTTP, groups becoming accessControl roles, sessions, sign-out, API keys
 * used by podman, and every way the flow must refuse.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers/scratch.js';
import { loadCookieKeys, seal } from '../../src/auth/cookie-keys.js';
import { startBerth, waitForDiscovery, type TestServer } from '../helpers/server.js';
import { startOidcProvider, type OidcTestProvider } from '../helpers/oidc-provider.js';
import { CookieJar, fetchWithJar, loginThroughProvider, logoutThroughProvider } from '../helpers/oidc-login.js';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { errorCode, json, pushImage } from '../helpers/registry-api.js';
import { TempDirs } from '../helpers/temp-dirs.js';
import { containerTools } from '../helpers/container-tools.js';
import { skopeo } from '../helpers/skopeo.js';
import { buildImage, writeOciLayout } from '../helpers/oci-layout.js';

const UI = { 'x-zot-api-client': 'zot-ui' };
const CLIENT_SECRET = 'client-secret-that-must-never-be-logged';
let op: OidcTestProvider;
let berth: TestServer;
let sessionKeysFile: string;
const dirs = new TempDirs();

async function signIn(username: string, callbackUi?: string) {
  const start = `${berth.url}/zot/auth/login?provider=oidc${callbackUi ? `&callback_ui=${encodeURIComponent(callbackUi)}` : ''}`;
  return loginThroughProvider({ startUrl: start, username });
}

/** A fetch that carries the browser's Berth cookies and, unless told otherwise, the UI header. */
function browser(jar: CookieJar, withHeader = true) {
  return (target: string, init: RequestInit = {}) => fetchWithJar(jar, `${berth.url}${target}`, { ...init, headers: { ...(withHeader ? UI : {}), ...(init.headers as Record<string, string>) } });
}

beforeAll(async () => {
  op = await startOidcProvider();
  const dir = await scratchDir('sso');
  sessionKeysFile = path.join(dir, 'session-keys.json');
  await writeFile(sessionKeysFile, JSON.stringify({ hashKey: 'h'.repeat(40), encryptKey: 'e'.repeat(40) }));
  const credentialsFile = path.join(dir, 'oidc.json');
  await writeFile(credentialsFile, JSON.stringify({ clientid: 'berth', clientsecret: CLIENT_SECRET }));
  const htpasswd = await writeHtpasswd({ buildbot: 'robot-secret' });
  berth = await startBerth({
    captureLog: true,
    config: {
      http: {
        auth: {
          htpasswd: { path: htpasswd },
          sessionKeysFile,
          openid: {
            providers: { oidc: { name: 'Pocket ID', issuer: op.issuer, credentialsFile, scopes: ['openid', 'profile', 'email', 'groups'], claimMapping: { username: 'preferred_username' } } },
          },
        },
        accessControl: {
          repositories: {
            '**': {
              policies: [
                { groups: ['users'], actions: ['read'] },
                { users: ['buildbot'], actions: ['read', 'create'] },
              ],
            },
          },
          adminPolicy: { groups: ['admins'], actions: ['read', 'create', 'update', 'delete'] },
        },
      },
    },
  });
  // Pocket ID's per-client "PKCE" switch on: Berth must send PKCE although it has a secret.
  await op.setClient({ clientId: 'berth', clientSecret: CLIENT_SECRET, requirePkce: true, redirectUris: [`${berth.url}/zot/auth/callback/oidc`], postLogoutRedirectUris: [`${berth.url}/`] });
  await waitForDiscovery(berth);
  // A real image (gzip tar layers), so podman can unpack what it pulls.
  const layout = await writeOciLayout(await dirs.make('sso-source'), { app: await buildImage({ layers: 1, label: 'sso' }) });
  await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--dest-creds', 'buildbot:robot-secret', layout.reference('app'), `docker://${berth.host}/team/app:v1`]);
});

afterAll(async () => {
  await berth?.close();
  await op?.close();
  await dirs.removeAll();
});

describe('signing in', () => {
  it('advertises the provider and htpasswd to the UI', async () => {
    expect(await json(await fetch(`${berth.url}/v2/_zot/ext/mgmt`))).toEqual({
      distSpecVersion: '1.1.1',
      binaryType: '-berth',
      http: { auth: { htpasswd: {}, openid: { providers: { oidc: { name: 'Pocket ID' } } }, apikey: true } },
    });
  });

  it('redirects to the provider with state, nonce and PKCE S256, in a cookie bound to the callback', async () => {
    const response = await fetch(`${berth.url}/zot/auth/login?provider=oidc&callback_ui=/home`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(op.endpoints.authorization);
    for (const parameter of ['state', 'nonce', 'code_challenge']) expect(location.searchParams.get(parameter)).toMatch(/^[\w-]{20,}$/);
    expect(location.searchParams.get('code_challenge_method')).toBe('S256');
    expect(location.searchParams.get('redirect_uri')).toBe(`${berth.url}/zot/auth/callback/oidc`);
    expect(location.searchParams.get('scope')).toBe('openid profile email groups');
    const cookie = response.headers.getSetCookie().find((line) => line.startsWith('berth_login='))!;
    expect(cookie).toMatch(/Path=\/zot\/auth\/callback\/oidc/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).not.toContain(location.searchParams.get('state')!);
  });

  it('signs alice in: session cookie, readable user cookie, back to callback_ui', async () => {
    const login = await signIn('alice', '/repositories?sort=name');
    expect(login.response.status).toBe(302);
    expect(login.response.headers.get('location')).toBe('/repositories?sort=name');
    const session = login.jar.get(berth.url, 'session')!;
    expect(session).toMatchObject({ httpOnly: true, path: '/' });
    expect(session.sameSite?.toLowerCase()).toBe('lax');
    expect(login.jar.get(berth.url, 'user')).toMatchObject({ value: 'alice', httpOnly: false });
    // alice is in admins: the admin policy applies to her session.
    await pushImage(berth.url, 'team/scratch', 'v1', { headers: { authorization: basicAuth('buildbot', 'robot-secret') } });
    const catalog = await browser(login.jar)('/v2/_catalog');
    expect(await json(catalog)).toEqual({ repositories: ['team/app', 'team/scratch'] });
    const remove = await browser(login.jar)('/v2/team/scratch/manifests/v1', { method: 'DELETE' });
    expect(remove.status).toBe(202);
  });

  it('maps groups to roles: bob (users) reads, carol (no groups) is denied', async () => {
    const bob = await signIn('bob');
    expect((await browser(bob.jar)('/v2/team/app/manifests/v1')).status).toBe(200);
    const refused = await browser(bob.jar)('/v2/team/app/manifests/v1', { method: 'DELETE' });
    expect(refused.status).toBe(403);
    const carol = await signIn('carol');
    expect(carol.response.status).toBe(302);
    expect((await browser(carol.jar)('/v2/team/app/manifests/v1')).status).toBe(403);
    expect((await json(await browser(carol.jar)('/v2/_catalog'))).repositories).toEqual([]);
  });

  it('ignores the session cookie without the UI header (no cross-site requests with it)', async () => {
    const alice = await signIn('alice');
    const withoutHeader = await browser(alice.jar, false)('/v2/team/app/manifests/v1');
    expect(withoutHeader.status).toBe(401);
    const keys = await browser(alice.jar, false)('/zot/auth/apikey', { method: 'POST', body: JSON.stringify({ label: 'csrf' }) });
    expect(keys.status).toBe(401);
  });

  it('never redirects to another origin', async () => {
    for (const target of ['https://evil.example/steal', '//evil.example/x', '/\\evil.example']) {
      const login = await signIn('bob', target);
      expect(login.response.headers.get('location'), target).toBe('/');
    }
  });

  it('issues a fresh session id at every sign-in (no fixation)', async () => {
    const first = await signIn('bob');
    const jar = first.jar;
    const before = jar.get(berth.url, 'session')!.value;
    const again = await loginThroughProvider({ startUrl: `${berth.url}/zot/auth/login?provider=oidc`, username: 'bob', jar });
    expect(again.response.status).toBe(302);
    const after = jar.get(berth.url, 'session')!.value;
    expect(after).not.toBe(before);
    // The session the browser had before is gone, server-side.
    const stale = await fetch(`${berth.url}/v2/team/app/tags/list`, { headers: { ...UI, cookie: `session=${before}` } });
    expect(stale.status).toBe(401);
  });
});

describe('refusing', () => {
  it('a forged state', async () => {
    const stopped = await loginThroughProvider({ startUrl: `${berth.url}/zot/auth/login?provider=oidc`, username: 'alice', stopBeforeCallback: true });
    const forged = new URL(stopped.callbackUrl);
    forged.searchParams.set('state', 'forged-state-value');
    const response = await fetchWithJar(stopped.jar, forged);
    expect(response.status).toBe(401);
    expect(await errorCode(response)).toBe('UNAUTHORIZED');
    expect(stopped.jar.get(berth.url, 'session')).toBeUndefined();
  });

  it('a replayed callback (code and state used twice)', async () => {
    const stopped = await loginThroughProvider({ startUrl: `${berth.url}/zot/auth/login?provider=oidc`, username: 'alice', stopBeforeCallback: true });
    const loginCookie = stopped.jar.get(stopped.callbackUrl, 'berth_login')!.value;
    expect((await fetchWithJar(stopped.jar, stopped.callbackUrl)).status).toBe(302);
    // Even with the login cookie put back, the code is spent.
    const replay = await fetch(stopped.callbackUrl, { headers: { cookie: `berth_login=${loginCookie}` }, redirect: 'manual' });
    expect(replay.status).toBe(401);
  });

  it('a callback without the login cookie (started in another browser)', async () => {
    const stopped = await loginThroughProvider({ startUrl: `${berth.url}/zot/auth/login?provider=oidc`, username: 'alice', stopBeforeCallback: true });
    const response = await fetch(stopped.callbackUrl, { redirect: 'manual' });
    expect(response.status).toBe(401);
    expect(response.headers.getSetCookie().some((line) => line.startsWith('session=') && !line.startsWith('session=;'))).toBe(false);
  });

  it('an ID token whose nonce is not the one this login sent', async () => {
    const stopped = await loginThroughProvider({ startUrl: `${berth.url}/zot/auth/login?provider=oidc`, username: 'alice', stopBeforeCallback: true });
    // The state matches but the nonce does not: seal a login cookie as Berth would, with another nonce.
    const keys = await loadCookieKeys(sessionKeysFile);
    const pending = {
      provider: 'oidc',
      state: stopped.state!,
      nonce: 'another-nonce-value-entirely',
      verifier: 'x'.repeat(43),
      redirectUri: `${berth.url}/zot/auth/callback/oidc`,
    };
    const cookie = seal(keys, pending, Date.now() + 60_000);
    const response = await fetch(stopped.callbackUrl, { headers: { cookie: `berth_login=${cookie}` }, redirect: 'manual' });
    expect(response.status).toBe(401);
  });

  it('a denied consent, in words', async () => {
    const login = await loginThroughProvider({ startUrl: `${berth.url}/zot/auth/login?provider=oidc`, username: 'alice', abortAt: 'login', jar: new CookieJar() });
    expect(login.response.status).toBe(401);
    expect((await json(login.response)).errors[0].detail).toMatch(/^the identity provider refused the sign-in: \S/);
  });

  it('a provider user named like an htpasswd robot', async () => {
    op.users.set({ username: 'buildbot', groups: ['admins'] });
    const login = await signIn('buildbot');
    const body = await json(login.response);
    expect(login.response.status, JSON.stringify(body)).toBe(403);
    expect(body.errors[0].detail).toMatch(/local account/);
    expect(login.jar.get(berth.url, 'session')).toBeUndefined();
  });

  it('an expired session', async () => {
    const login = await signIn('bob');
    // One file per session under _berth/sessions/: make every one of them expired.
    const folder = path.join(berth.root, '_berth', 'sessions');
    for (const name of await readdir(folder)) {
      const stored = JSON.parse(await readFile(path.join(folder, name), 'utf8'));
      stored.expires = stored.value.expires = Date.now() - 1000;
      await writeFile(path.join(folder, name), JSON.stringify(stored));
    }
    // The store keeps its copy in memory; a restart-equivalent reload is what an expiry check sees.
    const restarted = await startBerth({ root: berth.root, config: JSON.parse(await readFile(berth.configFile, 'utf8')) });
    try {
      const cookie = `session=${login.jar.get(berth.url, 'session')!.value}`;
      const response = await fetch(`${restarted.url}/v2/team/app/tags/list`, { headers: { ...UI, cookie } });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBeNull();
    } finally {
      await restarted.close();
    }
  });
});

describe('signing out', () => {
  it('ends the session server-side and hands back the provider logout URL with id_token_hint', async () => {
    const login = await signIn('alice');
    const cookie = login.jar.get(berth.url, 'session')!.value;
    const out = await browser(login.jar)('/zot/auth/logout', { method: 'POST' });
    expect(out.status).toBe(200);
    const { endSessionUrl } = await json(out);
    const url = new URL(endSessionUrl);
    expect(url.origin + url.pathname).toBe(op.endpoints.endSession);
    expect(url.searchParams.get('id_token_hint')).toMatch(/^ey/);
    expect(url.searchParams.get('post_logout_redirect_uri')).toBe(`${berth.url}/`);
    const copied = await fetch(`${berth.url}/v2/team/app/tags/list`, { headers: { ...UI, cookie: `session=${cookie}` } });
    expect(copied.status).toBe(401);
    const provider = await logoutThroughProvider({ endSessionUrl, jar: login.jar });
    expect(provider.confirmationShown).toBe(false);
    expect(provider.redirectUrl?.toString()).toMatch(new RegExp(`^${berth.url}/`));
  });
});

describe('API keys', () => {
  it('are created by a signed-in user, shown once, and work as podman login passwords with that user only', async () => {
    const alice = await signIn('alice');
    const created = await browser(alice.jar)('/zot/auth/apikey', { method: 'POST', body: JSON.stringify({ label: 'laptop', expirationDate: new Date(Date.now() + 86_400_000).toISOString() }) });
    expect(created.status).toBe(201);
    const { apiKey, uuid, label } = await json(created);
    expect(apiKey).toMatch(/^zak_[0-9a-f]{32}$/);
    expect(label).toBe('laptop');
    const listed = await json(await browser(alice.jar)('/zot/auth/apikey'));
    expect(listed.apiKeys).toHaveLength(1);
    expect(JSON.stringify(listed)).not.toContain(apiKey);

    const dir = await dirs.make('sso-podman');
    const tools = await containerTools(dir, berth.host);
    const authfile = path.join(dir, 'auth.json');
    await expect(tools.podman(['login', '--tls-verify=false', '--authfile', authfile, '-u', 'bob', '-p', apiKey, berth.host])).rejects.toThrow(/401|unauthorized|invalid/i);
    await tools.podman(['login', '--tls-verify=false', '--authfile', authfile, '-u', 'alice', '-p', apiKey, berth.host]);
    await tools.podman(['pull', '--tls-verify=false', '--authfile', authfile, `${berth.host}/team/app:v1`]);
    const id = (await tools.podman(['images', '--format', '{{.ID}}'])).stdout.trim().split('\n')[0]!;
    await tools.podman(['tag', id, `${berth.host}/team/alice:v1`]);
    await tools.podman(['push', '--tls-verify=false', '--authfile', authfile, `${berth.host}/team/alice:v1`]);
    expect((await fetch(`${berth.url}/v2/team/alice/manifests/v1`, { method: 'HEAD', headers: { authorization: basicAuth('alice', apiKey) } })).status).toBe(200);

    // A key cannot mint keys.
    expect((await fetch(`${berth.url}/zot/auth/apikey`, { method: 'POST', body: '{"label":"x"}', headers: { authorization: basicAuth('alice', apiKey) } })).status).toBe(401);

    // Key requests carry the groups of the owner's last sign-in: alice loses admins at the provider.
    op.users.setGroups('alice', ['users']);
    await signIn('alice');
    const demoted = await fetch(`${berth.url}/v2/team/alice/manifests/v1`, { method: 'DELETE', headers: { authorization: basicAuth('alice', apiKey) } });
    expect(demoted.status).toBe(403);
    op.users.setGroups('alice', ['admins', 'users']);

    const revoked = await browser(alice.jar)(`/zot/auth/apikey?id=${uuid}`, { method: 'DELETE' });
    expect(revoked.status).toBe(200);
    expect((await fetch(`${berth.url}/v2/team/app/tags/list`, { headers: { authorization: basicAuth('alice', apiKey) } })).status).toBe(401);
  });

  it('refuses a past expiration date and a body that is not JSON', async () => {
    const alice = await signIn('alice');
    const past = await browser(alice.jar)('/zot/auth/apikey', { method: 'POST', body: JSON.stringify({ label: 'old', expirationDate: '2001-01-01T00:00:00Z' }) });
    expect(past.status).toBe(400);
    const garbage = await browser(alice.jar)('/zot/auth/apikey', { method: 'POST', body: 'label=x' });
    expect(garbage.status).toBe(400);
  });
});

describe('the log', () => {
  it('never holds the client secret, codes, tokens, session ids or API keys', async () => {
    const login = await signIn('bob');
    const created = await json(await browser(login.jar)('/zot/auth/apikey', { method: 'POST', body: JSON.stringify({ label: 'log-check' }) }));
    await fetch(`${berth.url}/v2/team/app/tags/list`, { headers: { authorization: basicAuth('bob', created.apiKey) } });
    const log = berth.logText();
    expect(log).toMatch(/signed in/);
    expect(log).toMatch(/\/zot\/auth\/callback\/oidc\?\[redacted\]/);
    for (const secret of [CLIENT_SECRET, created.apiKey, login.code!, login.state!, login.jar.get(berth.url, 'session')!.value]) {
      expect(log).not.toContain(secret);
    }
    expect(log).not.toMatch(/eyJ[\w-]+\.eyJ/);
  });
});

describe('a provider that is down at start', () => {
  it('does not stop Berth; sign-in explains the outage and works once the provider is back', async () => {
    const probe = await startOidcProvider();
    const port = probe.port;
    await probe.close();
    const htpasswd = await writeHtpasswd({ ci: 'pw' });
    const server = await startBerth({
      config: {
        http: {
          auth: {
            htpasswd: { path: htpasswd },
            openid: { providers: { oidc: { issuer: `http://127.0.0.1:${port}`, clientid: 'berth', scopes: ['email', 'groups'] } } },
          },
        },
      },
    });
    let provider: OidcTestProvider | undefined;
    try {
      expect((await fetch(`${server.url}/v2/`, { headers: { authorization: basicAuth('ci', 'pw') } })).status).toBe(200);
      const methods = await json(await fetch(`${server.url}/v2/_zot/ext/mgmt`));
      expect(methods.http.auth.openid.providers.oidc.unavailable).toMatch(/cannot be reached/);
      const login = await fetch(`${server.url}/zot/auth/login?provider=oidc`, { redirect: 'manual' });
      expect(login.status).toBe(503);
      expect((await json(login)).errors[0].code).toBe('UNAVAILABLE');

      provider = await startOidcProvider({ port });
      // Pocket ID's default is an unverified address; an admin marked bob's as verified.
      provider.users.update('bob', { emailVerified: true });
      // A public client: no secret, PKCE only.
      await provider.setClient({ clientId: 'berth', redirectUris: [`${server.url}/zot/auth/callback/oidc`] });
      await waitForDiscovery(server);
      const signedIn = await loginThroughProvider({ startUrl: `${server.url}/zot/auth/login?provider=oidc`, username: 'bob' });
      expect(signedIn.response.status, signedIn.response.status === 302 ? '' : await signedIn.response.text()).toBe(302);
      // claimMapping.username defaults to email.
      expect(signedIn.jar.get(server.url, 'user')?.value).toBe('bob@example.org');
      // An address the provider has not verified is never a user name.
      provider.users.set({ username: 'mallory', email: 'alice@example.org', emailVerified: false, groups: ['admins'] });
      const unverified = await loginThroughProvider({ startUrl: `${server.url}/zot/auth/login?provider=oidc`, username: 'mallory' });
      expect(unverified.response.status).toBe(401);
      expect((await json(unverified.response)).errors[0].detail).toMatch(/not verified/);
    } finally {
      await server.close();
      await provider?.close();
    }
  }, 60_000);
});
