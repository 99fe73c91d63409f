/**
 * Who a request is, decided at each request: accessControl groups from the running config apply to
 * password sessions and API keys at once (a config reload that removes a user from a group takes
 * the group away from their live session and keys too), and a user's API keys are capped, on
 * zot's endpoint and on the account page alike.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { json, pushImage } from '../helpers/registry-api.js';
import { formTokenOf, signInWithPassword } from '../helpers/ui-session.js';
import { MAX_API_KEYS_PER_USER } from '../../src/auth/api-keys.js';
import { eventually } from '../helpers/eventually.js';

let server: TestServer;
const PASSWORDS = { admin: 'admin-pw', dev: 'dev-pw', hoarder: 'hoard-pw' };
const as = (user: keyof typeof PASSWORDS) => ({ authorization: basicAuth(user, PASSWORDS[user]) });

beforeAll(async () => {
  const htpasswd = await writeHtpasswd(PASSWORDS);
  server = await startBerth({
    config: {
      extensions: { ui: { enable: true } },
      http: {
        auth: { htpasswd: { path: htpasswd }, apikey: true },
        accessControl: {
          groups: { devs: { users: ['dev'] } },
          repositories: { 'secret/**': { policies: [{ groups: ['devs'], actions: ['read', 'create', 'update'] }] }, '**': { defaultPolicy: ['read'] } },
          adminPolicy: { users: ['admin'], actions: ['read', 'create', 'update', 'delete'] },
        },
      },
    },
  });
  await pushImage(server.url, 'secret/app', 'v1', { headers: as('admin') });
});
afterAll(async () => server?.close());

describe('accessControl groups', () => {
  it('are computed at each request: a reload that removes a user from a group ends the group for their session and keys', async () => {
    const session = await signInWithPassword(server.url, 'dev', PASSWORDS.dev);
    const created = await session.api('/zot/auth/apikey', { method: 'POST', body: JSON.stringify({ label: 'laptop' }) });
    expect(created.status).toBe(201);
    const { apiKey } = await json(created);
    const withKey = { authorization: basicAuth('dev', apiKey) };
    expect((await session.api('/v2/secret/app/manifests/v1')).status).toBe(200);
    expect((await fetch(`${server.url}/v2/secret/app/manifests/v1`, { headers: withKey })).status).toBe(200);

    const document = JSON.parse(await readFile(server.configFile, 'utf8'));
    document.http.accessControl.groups.devs.users = [];
    await writeFile(server.configFile, JSON.stringify(document));
    await eventually(async () => expect((await fetch(`${server.url}/v2/secret/app/manifests/v1`, { headers: as('dev') })).status).toBe(403));

    // The session and the key were made while dev was in devs: neither keeps the group.
    expect((await session.api('/v2/secret/app/manifests/v1')).status).toBe(403);
    expect((await session.api('/v2/secret/app/blobs/uploads/', { method: 'POST' })).status).toBe(403);
    expect((await fetch(`${server.url}/v2/secret/app/manifests/v1`, { headers: withKey })).status).toBe(403);
    expect((await fetch(`${server.url}/v2/secret/app/blobs/uploads/`, { method: 'POST', headers: withKey })).status).toBe(403);
    // And the account page says what the user has now.
    expect(await (await session.browse('/account')).text()).not.toContain('<span class="badge">devs</span>');

    // Put back in the group: the same session has it again, with no new sign-in.
    document.http.accessControl.groups.devs.users = ['dev'];
    await writeFile(server.configFile, JSON.stringify(document));
    await eventually(async () => expect((await session.api('/v2/secret/app/manifests/v1')).status).toBe(200));
    expect((await fetch(`${server.url}/v2/secret/app/manifests/v1`, { headers: withKey })).status).toBe(200);
  });
});

describe('API keys per user', () => {
  it(`are capped at ${MAX_API_KEYS_PER_USER}, on zot's endpoint and on the account page, with an answer naming the limit`, async () => {
    const create = (label: string) => fetch(`${server.url}/zot/auth/apikey`, { method: 'POST', body: JSON.stringify({ label }), headers: as('hoarder') });
    for (let i = 0; i < MAX_API_KEYS_PER_USER; i += 1) expect((await create(`key-${i}`)).status).toBe(201);
    const refused = await create('one-too-many');
    expect(refused.status).toBe(403);
    const body = await json(refused);
    expect(body.errors[0].code).toBe('DENIED');
    expect(JSON.stringify(body.errors[0].detail)).toContain(String(MAX_API_KEYS_PER_USER));

    const session = await signInWithPassword(server.url, 'hoarder', PASSWORDS.hoarder);
    const token = formTokenOf(await (await session.browse('/account')).text());
    const post = () =>
      session.browse('/account/api-keys', {
        method: 'POST',
        body: new URLSearchParams({ csrf: token, label: 'from-the-page', expiresInDays: '0' }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
    const page = await post();
    expect(page.status).toBe(403);
    expect(await page.text()).toContain(`at most ${MAX_API_KEYS_PER_USER} API keys`);
    expect((await json(await fetch(`${server.url}/zot/auth/apikey`, { headers: as('hoarder') }))).apiKeys).toHaveLength(MAX_API_KEYS_PER_USER);

    // Revoking one makes room for one.
    const { apiKeys } = await json(await fetch(`${server.url}/zot/auth/apikey`, { headers: as('hoarder') }));
    expect((await fetch(`${server.url}/zot/auth/apikey?id=${apiKeys[0].uuid}`, { method: 'DELETE', headers: as('hoarder') })).status).toBe(200);
    expect((await post()).status).toBe(201);
    expect((await create('again-too-many')).status).toBe(403);
    // Another user is not affected.
    expect((await fetch(`${server.url}/zot/auth/apikey`, { method: 'POST', body: JSON.stringify({ label: 'mine' }), headers: as('dev') })).status).toBe(201);
  });
});
