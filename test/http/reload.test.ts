import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { basicAuth, htpasswdText, writeHtpasswd } from '../helpers/htpasswd.js';
import { eventually } from '../helpers/eventually.js';

let server: TestServer;
let htpasswd: string;

const status = async (path: string, user: string, password: string) => (await fetch(`${server.url}${path}`, { headers: { authorization: basicAuth(user, password) } })).status;

beforeAll(async () => {
  htpasswd = await writeHtpasswd({ ci: 'one' });
  server = await startBerth({
    config: { http: { auth: { htpasswd: { path: htpasswd }, apikey: true }, accessControl: { repositories: { '**': { defaultPolicy: ['read'] } } } } },
  });
});
afterAll(async () => server.close());

describe('live reload', () => {
  it('picks up an edited htpasswd file', async () => {
    expect(await status('/v2/', 'newbot', 'two')).toBe(401);
    await writeFile(htpasswd, htpasswdText({ ci: 'one', newbot: 'two' }));
    await eventually(async () => expect(await status('/v2/', 'newbot', 'two')).toBe(200));
  });

  it('keeps the last good htpasswd set when the file breaks', async () => {
    await writeFile(htpasswd, 'ci:plaintext-password\n');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await status('/v2/', 'ci', 'one')).toBe(200);
    expect(await status('/v2/', 'ci', 'plaintext-password')).toBe(401);
  });

  it('applies an edited accessControl without a restart', async () => {
    const post = () => fetch(`${server.url}/v2/x/blobs/uploads/`, { method: 'POST', headers: { authorization: basicAuth('ci', 'one') } });
    expect((await post()).status).toBe(403);
    const document = JSON.parse(await readFile(server.configFile, 'utf8'));
    document.http.accessControl.repositories['**'].defaultPolicy = ['read', 'create'];
    await writeFile(server.configFile, JSON.stringify(document));
    await eventually(async () => expect((await post()).status).toBe(202));
  });

  it('keeps the running config when the edited one is invalid', async () => {
    const document = JSON.parse(await readFile(server.configFile, 'utf8'));
    document.http.accessControl.repositories['**'].anonymousPolicy = ['read'];
    document.http.accessControl.repositories['[broken'] = {};
    await writeFile(server.configFile, JSON.stringify(document));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await status('/v2/', 'ci', 'one')).toBe(200);
    expect((await fetch(`${server.url}/v2/`)).status).toBe(401);
  });

  it('revokes the API keys and sessions of a user removed from htpasswd, not only the password', async () => {
    await writeFile(htpasswd, htpasswdText({ ci: 'one', gone: 'pw' }));
    await eventually(async () => expect(await status('/v2/', 'gone', 'pw')).toBe(200));
    const created = await fetch(`${server.url}/zot/auth/apikey`, { method: 'POST', body: JSON.stringify({ label: 'laptop' }), headers: { authorization: basicAuth('gone', 'pw') } });
    expect(created.status).toBe(201);
    const { apiKey } = (await created.json()) as { apiKey: string };
    const signIn = await fetch(`${server.url}/v2/`, { headers: { authorization: basicAuth('gone', 'pw'), 'x-zot-api-client': 'zot-ui' } });
    const cookie = signIn.headers
      .getSetCookie()
      .find((line) => line.startsWith('session='))!
      .split(';')[0]!;
    const withSession = () => fetch(`${server.url}/v2/_catalog`, { headers: { cookie, 'x-zot-api-client': 'zot-ui' } });
    expect(await status('/v2/_catalog', 'gone', apiKey)).toBe(200);
    expect((await withSession()).status).toBe(200);

    await writeFile(htpasswd, htpasswdText({ ci: 'one' }));
    await eventually(async () => expect(await status('/v2/', 'gone', 'pw')).toBe(401));
    expect(await status('/v2/_catalog', 'gone', apiKey)).toBe(401);
    expect((await withSession()).status).toBe(401);
  });
});
