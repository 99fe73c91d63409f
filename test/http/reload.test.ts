import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { basicAuth, htpasswdText, writeHtpasswd } from '../helpers/htpasswd.js';

let server: TestServer;
let htpasswd: string;

/** Polls until `check` passes: the change is picked up by a file watcher, not synchronously. */
async function eventually(check: () => Promise<void>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

const status = async (path: string, user: string, password: string) =>
  (await fetch(`${server.url}${path}`, { headers: { authorization: basicAuth(user, password) } })).status;

beforeAll(async () => {
  htpasswd = await writeHtpasswd({ ci: 'one' });
  server = await startBerth({
    config: { http: { auth: { htpasswd: { path: htpasswd } }, accessControl: { repositories: { '**': { defaultPolicy: ['read'] } } } } },
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
});
