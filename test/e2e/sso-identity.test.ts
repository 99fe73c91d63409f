/**
 * Who a provider's user is, beyond the sign-in itself (test/e2e/sso.test.ts has the flow): the
 * config's groups join the provider's at every request, a user name stays bound to the provider
 * subject that first signed in with it (Pocket ID lets users rename themselves, so a name can be
 * freed and taken by someone else), `berth users release` frees a name, and a provider removed
 * from the config ends its sessions and keys. Sessions and API keys live in Redis here (a
 * cacheDriver), so the release command acts on a running server; the last part does it with the
 * files of a single server.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, waitForDiscovery, type TestServer } from '../helpers/server.js';
import { startOidcProvider, type OidcTestProvider } from '../helpers/oidc-provider.js';
import { type CookieJar, fetchWithJar, loginThroughProvider } from '../helpers/oidc-login.js';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { json, pushImage } from '../helpers/registry-api.js';
import { runBerthCommand } from '../helpers/berth-process.js';
import { redisUrl } from '../helpers/services.js';
import { scratchDir } from '../helpers/scratch.js';
import { eventually } from '../helpers/eventually.js';

const UI = { 'x-zot-api-client': 'zot-ui' };
const ADMIN = { authorization: basicAuth('admin', 'admin-pw') };
let op: OidcTestProvider;
let berth: TestServer;
let audit: string;
let htpasswd: string;

const signIn = (server: TestServer, username: string) => loginThroughProvider({ startUrl: `${server.url}/zot/auth/login?provider=oidc`, username });
const withSession =
  (server: TestServer, jar: CookieJar) =>
  (target: string, init: RequestInit = {}) =>
    fetchWithJar(jar, `${server.url}${target}`, { ...init, headers: { ...UI, ...(init.headers as Record<string, string>) } });
const withKey =
  (server: TestServer, user: string, key: string) =>
  (target: string, init: RequestInit = {}) =>
    fetch(`${server.url}${target}`, { ...init, headers: { authorization: basicAuth(user, key), ...(init.headers as Record<string, string>) } });

async function createKey(server: TestServer, jar: CookieJar, label: string): Promise<string> {
  const response = await withSession(server, jar)('/zot/auth/apikey', { method: 'POST', body: JSON.stringify({ label }) });
  expect(response.status).toBe(201);
  return (await json(response)).apiKey as string;
}

async function editConfig(server: TestServer, edit: (document: any) => void): Promise<void> {
  const document = JSON.parse(await readFile(server.configFile, 'utf8'));
  edit(document);
  await writeFile(server.configFile, JSON.stringify(document));
}

/** A provider user renamed at the provider: same `sub`, another `preferred_username`. */
function rename(from: string, to: string): void {
  const user = op.users.get(from)!;
  op.users.remove(from);
  op.users.set({ ...user, username: to });
}

const ACCESS = {
  groups: { leads: { users: ['carol'] } },
  repositories: {
    'team/**': {
      policies: [
        { groups: ['users'], actions: ['read'] },
        { groups: ['leads'], actions: ['read', 'create'] },
      ],
    },
    'admin-only/**': { policies: [] },
  },
  adminPolicy: { groups: ['admins'], users: ['admin'], actions: ['read', 'create', 'update', 'delete'] },
};

beforeAll(async () => {
  op = await startOidcProvider();
  const dir = await scratchDir('sso-identity');
  audit = path.join(dir, 'audit.log');
  const credentialsFile = path.join(dir, 'oidc.json');
  await writeFile(credentialsFile, JSON.stringify({ clientid: 'berth', clientsecret: 'identity-secret' }));
  htpasswd = await writeHtpasswd({ admin: 'admin-pw' });
  berth = await startBerth({
    backend: 'fs',
    config: {
      extensions: { ui: { enable: true } },
      log: { audit },
      storage: { cacheDriver: { name: 'redis', url: redisUrl(), keyprefix: `sso-identity-${randomBytes(4).toString('hex')}` } },
      http: {
        auth: {
          htpasswd: { path: htpasswd },
          apikey: true,
          openid: {
            providers: { oidc: { name: 'Pocket ID', issuer: op.issuer, credentialsFile, scopes: ['openid', 'profile', 'email', 'groups'], claimMapping: { username: 'preferred_username' } } },
          },
        },
        accessControl: ACCESS,
      },
    },
  });
  await op.setClient({ clientId: 'berth', clientSecret: 'identity-secret', redirectUris: [`${berth.url}/zot/auth/callback/oidc`] });
  await waitForDiscovery(berth);
  await pushImage(berth.url, 'team/app', 'v1', { headers: ADMIN });
});

afterAll(async () => {
  await berth?.close();
  await op?.close();
});

describe('groups', () => {
  it('from accessControl join the provider’s at every request, for sessions and API keys', async () => {
    // carol has no groups at the provider; the config puts her in leads.
    const carol = await signIn(berth, 'carol');
    expect(carol.response.status).toBe(302);
    const session = withSession(berth, carol.jar);
    const key = withKey(berth, 'carol', await createKey(berth, carol.jar, 'laptop'));
    expect((await session('/v2/team/app/manifests/v1')).status).toBe(200);
    expect((await key('/v2/team/app/blobs/uploads/', { method: 'POST' })).status).toBe(202);

    await editConfig(berth, (document) => (document.http.accessControl.groups.leads.users = []));
    await eventually(async () => expect((await session('/v2/team/app/manifests/v1')).status).toBe(403));
    expect((await key('/v2/team/app/manifests/v1')).status).toBe(403);
    expect((await key('/v2/team/app/blobs/uploads/', { method: 'POST' })).status).toBe(403);
  });
});

describe('a renamed user', () => {
  let aliceJar: CookieJar;
  let aliceKey: string;

  it('cannot take over a name another subject signed in with: refused in words, audited, the name’s keys untouched', async () => {
    const alice = await signIn(berth, 'alice');
    expect(alice.response.status).toBe(302);
    aliceJar = alice.jar;
    aliceKey = await createKey(berth, alice.jar, 'alice-laptop');
    // alice is in admins at the provider: her key may push anywhere.
    expect((await withKey(berth, 'alice', aliceKey)('/v2/admin-only/x/blobs/uploads/', { method: 'POST' })).status).toBe(202);

    // At the provider alice renames herself, and bob takes the freed name.
    rename('alice', 'alice-new');
    rename('bob', 'alice');
    const takeover = await signIn(berth, 'alice');
    // Back to the sign-in page, which says why in words.
    expect(takeover.response.status).toBe(303);
    const location = takeover.response.headers.get('location')!;
    expect(location).toMatch(/^\/login\?error=name-taken&provider=oidc(&|$)/);
    const page = await (await fetch(`${berth.url}${location}`)).text();
    expect(page).toContain('Pocket ID: Your name at the identity provider already belongs to another account of this registry');
    expect(takeover.jar.get(berth.url, 'session')).toBeUndefined();
    expect((await withSession(berth, takeover.jar)('/zot/auth/apikey')).status).toBe(401);
    // alice's key keeps alice's groups (bob is only in users), and her session still works.
    expect((await withKey(berth, 'alice', aliceKey)('/v2/admin-only/x/blobs/uploads/', { method: 'POST' })).status).toBe(202);
    expect((await withSession(berth, aliceJar)('/zot/auth/apikey')).status).toBe(200);
    await eventually(async () => {
      const lines = (await readFile(audit, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(lines.find((line) => line.event === 'sign-in' && line.outcome === 'refused')).toMatchObject({
        user: null,
        attemptedUser: 'alice',
        provider: 'oidc',
        reason: expect.stringMatching(/another subject/),
      });
    });

    // The real alice signs in under her new name: a new account, with none of the old name's keys.
    const renamed = await signIn(berth, 'alice-new');
    expect(renamed.response.status).toBe(302);
    expect((await json(await withSession(berth, renamed.jar)('/zot/auth/apikey'))).apiKeys).toEqual([]);
  });

  it('gets the name once an admin releases it: the old holder’s keys and sessions end, the new one starts clean', async () => {
    const released = await runBerthCommand(['users', 'release'], berth.configFile, {}, ['alice']);
    expect(released.code, released.stderr).toBe(0);
    expect(released.stdout).toMatch(/released "alice" \(provider oidc, subject [\w-]+\)/);
    expect(released.stdout).toMatch(/revoked 1 API key/);
    expect((await withKey(berth, 'alice', aliceKey)('/v2/team/app/manifests/v1')).status).toBe(401);
    expect((await withSession(berth, aliceJar)('/zot/auth/apikey')).status).toBe(401);

    const bob = await signIn(berth, 'alice');
    expect(bob.response.status).toBe(302);
    const session = withSession(berth, bob.jar);
    expect((await json(await session('/zot/auth/apikey'))).apiKeys).toEqual([]);
    expect((await session('/v2/team/app/manifests/v1')).status).toBe(200);
    expect((await session('/v2/admin-only/x/blobs/uploads/', { method: 'POST' })).status).toBe(403);
    // The session made for the previous holder of the name never comes back with the new binding.
    expect((await withSession(berth, aliceJar)('/zot/auth/apikey')).status).toBe(401);

    const unknown = await runBerthCommand(['users', 'release'], berth.configFile, {}, ['nobody-here']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no provider user "nobody-here"/);
  });
});

describe('with the files of a single server', () => {
  it('release works on the records under the storage root', async () => {
    const root = await scratchDir('sso-identity-local');
    const config = {
      http: {
        auth: {
          htpasswd: { path: htpasswd },
          apikey: true,
          openid: { providers: { oidc: { issuer: op.issuer, clientid: 'berth-local', scopes: ['openid', 'profile', 'groups'], claimMapping: { username: 'preferred_username' } } } },
        },
        accessControl: ACCESS,
      },
    };
    const start = async () => {
      const server = await startBerth({ root, backend: 'fs', config });
      await op.setClient({ clientId: 'berth-local', redirectUris: [`${server.url}/zot/auth/callback/oidc`] });
      await waitForDiscovery(server);
      return server;
    };
    let server = await start();
    const carol = await signIn(server, 'carol');
    expect(carol.response.status).toBe(302);
    const key = await createKey(server, carol.jar, 'ci');
    await server.close();

    const file = path.join(await scratchDir('sso-identity-config'), 'zot.json');
    await writeFile(file, JSON.stringify({ ...config, storage: { rootDirectory: root } }));
    const released = await runBerthCommand(['users', 'release'], file, {}, ['carol']);
    expect(released.code, released.stderr).toBe(0);
    expect(released.stdout).toMatch(/revoked 1 API key/);

    server = await start();
    try {
      expect((await withKey(server, 'carol', key)('/v2/')).status).toBe(401);
      // carol (same subject) signs in again and binds the free name anew.
      expect((await signIn(server, 'carol')).response.status).toBe(302);
    } finally {
      await server.close();
    }
  });
});

describe('a provider removed from the config', () => {
  it('ends its sessions and API keys at the next request', async () => {
    const bob = await signIn(berth, 'alice');
    expect(bob.response.status).toBe(302);
    const session = withSession(berth, bob.jar);
    const key = withKey(berth, 'alice', await createKey(berth, bob.jar, 'before-removal'));
    expect((await session('/v2/team/app/manifests/v1')).status).toBe(200);
    expect((await key('/v2/team/app/manifests/v1')).status).toBe(200);

    await editConfig(berth, (document) => delete document.http.auth.openid);
    await eventually(async () => expect((await session('/v2/team/app/manifests/v1')).status).toBe(401));
    expect((await key('/v2/team/app/manifests/v1')).status).toBe(401);
    expect((await fetch(`${berth.url}/v2/team/app/manifests/v1`, { headers: ADMIN })).status).toBe(200);
  });
});
