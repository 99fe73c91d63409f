/**
 * Who pushed each tag (issue 15): the identity of the push is recorded with the index entry (a
 * Berth annotation next to its push time, which zot ignores) and shown in the repository page's
 * tag list and on the image page. Pushes over HTTP as an htpasswd robot, as an SSO user's API key
 * (a real OpenID provider, signed in over HTTP) and anonymously (which names no one).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, waitForDiscovery, type TestServer } from '../helpers/server.js';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { pushImage } from '../helpers/registry-api.js';
import { signInWithPassword, type UiSession } from '../helpers/ui-session.js';
import { startOidcProvider, type OidcTestProvider } from '../helpers/oidc-provider.js';
import { fetchWithJar, loginThroughProvider } from '../helpers/oidc-login.js';
import { scratchDir } from '../helpers/scratch.js';
import { storedFiles } from '../helpers/stored-files.js';

const PASSWORDS = { buildbot: 'buildbot-pushed-by-pw', viewer: 'viewer-pushed-by-pw' };
const CLIENT_SECRET = 'pushed-by-client-secret';

let op: OidcTestProvider;
let berth: TestServer;
let viewer: UiSession;

beforeAll(async () => {
  op = await startOidcProvider();
  const credentialsFile = path.join(await scratchDir('pushed-by'), 'oidc.json');
  await writeFile(credentialsFile, JSON.stringify({ clientid: 'berth', clientsecret: CLIENT_SECRET }));
  berth = await startBerth({
    config: {
      extensions: { ui: { enable: true } },
      http: {
        auth: {
          htpasswd: { path: await writeHtpasswd(PASSWORDS) },
          apikey: true,
          openid: { providers: { oidc: { name: 'Pocket ID', issuer: op.issuer, credentialsFile, scopes: ['openid', 'profile', 'groups'], claimMapping: { username: 'preferred_username' } } } },
        },
        accessControl: {
          repositories: {
            'open/**': { anonymousPolicy: ['read', 'create'], defaultPolicy: ['read'] },
            '**': { policies: [{ users: ['buildbot', 'alice'], actions: ['read', 'create', 'update'] }], defaultPolicy: ['read'] },
          },
        },
      },
    },
  });
  await op.setClient({ clientId: 'berth', clientSecret: CLIENT_SECRET, redirectUris: [`${berth.url}/zot/auth/callback/oidc`], postLogoutRedirectUris: [`${berth.url}/`] });
  await waitForDiscovery(berth);
  viewer = await signInWithPassword(berth.url, 'viewer', PASSWORDS.viewer);
}, 60_000);

afterAll(async () => {
  await berth?.close();
  await op?.close();
});

async function page(target: string): Promise<string> {
  const response = await viewer.browse(target);
  expect(response.status, target).toBe(200);
  return response.text();
}

/** The tag list's row of `tag` (its <tr>). */
function rowOf(html: string, tag: string): string {
  const at = html.indexOf(`ref=${tag}"`);
  expect(at, `a row for ${tag}`).toBeGreaterThan(-1);
  return html.slice(html.lastIndexOf('<tr>', at), html.indexOf('</tr>', at));
}

describe('who pushed each tag', () => {
  it('names an htpasswd robot in the tag list and on the image page', async () => {
    await pushImage(berth.url, 'team/app', 'v1', { headers: { authorization: basicAuth('buildbot', PASSWORDS.buildbot) } });
    expect(rowOf(await page('/repository?name=team/app'), 'v1')).toContain('by buildbot (htpasswd)');
    expect(await page('/image?name=team/app&ref=v1')).toMatch(/<\/time> by buildbot \(htpasswd\)/);
  });

  it('names an SSO user pushing with an API key, per tag', async () => {
    const login = await loginThroughProvider({ startUrl: `${berth.url}/zot/auth/login?provider=oidc`, username: 'alice' });
    const created = await fetchWithJar(login.jar, `${berth.url}/zot/auth/apikey`, { method: 'POST', body: JSON.stringify({ label: 'laptop' }), headers: { 'x-zot-api-client': 'zot-ui' } });
    expect(created.status).toBe(201);
    const key = ((await created.json()) as { apiKey: string }).apiKey;
    await pushImage(berth.url, 'team/app', 'v2', { headers: { authorization: basicAuth('alice', key) } });
    const list = await page('/repository?name=team/app');
    expect(rowOf(list, 'v2')).toContain('by alice (API key)');
    expect(rowOf(list, 'v1')).toContain('by buildbot (htpasswd)');
    expect(rowOf(list, 'v2')).not.toContain('buildbot');
    expect(await page('/image?name=team/app&ref=v2')).toMatch(/<\/time> by alice \(API key\)/);
  });

  it('names no one for an anonymous push', async () => {
    await pushImage(berth.url, 'open/scratch', 'v1');
    expect(rowOf(await page('/repository?name=open/scratch'), 'v1')).not.toContain('class="pusher');
    expect(await page('/image?name=open/scratch&ref=v1')).not.toMatch(/<\/time> by /);
  });

  it('keeps the pusher in index.json as an annotation next to the push time', async () => {
    const index = JSON.parse((await storedFiles(berth).read('team/app/index.json')).toString('utf8')) as { manifests: Array<{ annotations?: Record<string, string> }> };
    const annotations = index.manifests.map((entry) => entry.annotations ?? {});
    expect(annotations).toContainEqual(expect.objectContaining({ 'org.opencontainers.image.ref.name': 'v1', 'dev.berth.pushed-by': 'buildbot', 'dev.berth.pushed-via': 'htpasswd' }));
    expect(annotations).toContainEqual(expect.objectContaining({ 'org.opencontainers.image.ref.name': 'v2', 'dev.berth.pushed-by': 'alice', 'dev.berth.pushed-via': 'apikey' }));
  });
});
