/**
 * The web UI against hostile content and hostile sites, in a real Chromium: an image whose labels,
 * annotations, env, history and author hold markup is shown as text and runs nothing; a form on
 * another site that posts to Berth (delete a tag, mint an API key, sign someone in) changes
 * nothing; and over HTTP, a post with the victim's cookie but without this browser's token is
 * refused too.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startBerth, type TestServer } from '../helpers/server.js';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { json, pushBlob } from '../helpers/registry-api.js';
import { openBrowser, textOf, type TestBrowser } from '../helpers/browser.js';
import { formTokenOf, navigate, signInWithPassword } from '../helpers/ui-session.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256 } from '../helpers/oci.js';

const ADMIN = { authorization: basicAuth('root', 'root-pw') };
const PAYLOADS = {
  script: '<script>window.__xss = "script"</script>',
  attribute: '"><img src=x onerror="window.__xss = \'attribute\'">',
  single: "'><svg onload=\"window.__xss = 'single'\">",
  iframe: '<iframe src="javascript:window.__xss = \'iframe\'"></iframe>',
};
let berth: TestServer;
let attacker: Server;
let attackerUrl: string;
let browser: TestBrowser;
let page: Page;

/** Pushes an image whose every free-text field carries markup, under `xss/app:v1` (and `v2`). */
async function pushHostileImage(tag: string): Promise<void> {
  const layer = Buffer.from(`layer of ${tag}`);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      author: PAYLOADS.iframe,
      config: {
        Env: [`PAYLOAD=${PAYLOADS.script}`, `${PAYLOADS.attribute}=value`],
        Entrypoint: [PAYLOADS.single],
        Labels: { 'org.example.script': PAYLOADS.script, 'org.example.attribute': PAYLOADS.attribute, [PAYLOADS.single]: 'key' },
      },
      rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
      history: [{ created_by: PAYLOADS.attribute }],
    }),
  );
  await pushBlob(berth.url, 'xss/app', config, ADMIN);
  await pushBlob(berth.url, 'xss/app', layer, ADMIN);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
    layers: [{ mediaType: OCI_LAYER, digest: sha256(layer), size: layer.length, annotations: { 'org.opencontainers.image.title': PAYLOADS.script } }],
    annotations: { 'org.opencontainers.image.description': PAYLOADS.attribute, [PAYLOADS.script]: PAYLOADS.single },
  });
  const put = await fetch(`${berth.url}/v2/xss/app/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { ...ADMIN, 'content-type': OCI_MANIFEST } });
  expect(put.status).toBe(201);
}

async function tagExists(tag: string): Promise<boolean> {
  return (await fetch(`${berth.url}/v2/xss/app/manifests/${tag}`, { method: 'HEAD', headers: ADMIN })).status === 200;
}

async function signInInBrowser(): Promise<void> {
  await page.goto(`${berth.url}/login`);
  await page.getByLabel('User name').fill('root');
  await page.getByLabel('Password').fill('root-pw');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${berth.url}/repositories`);
}

beforeAll(async () => {
  const htpasswd = await writeHtpasswd({ root: 'root-pw' });
  berth = await startBerth({ config: { extensions: { ui: { enable: true } }, http: { auth: { htpasswd: { path: htpasswd }, apikey: true } } } });
  await pushHostileImage('v1');
  await pushHostileImage('v2');
  // Another site (localhost is not the same site as 127.0.0.1) whose pages post forms to Berth.
  const forms: Record<string, string> = {
    '/delete': `<form method="post" action="${berth.url}/repository/delete-tag?name=xss/app&amp;tag=v1"><input name="csrf" value="forged"></form>`,
    '/key': `<form method="post" action="${berth.url}/account/api-keys"><input name="label" value="stolen"><input name="expiresInDays" value="0"></form>`,
    '/login': `<form method="post" action="${berth.url}/login"><input name="username" value="root"><input name="password" value="root-pw"></form>`,
  };
  attacker = createServer((request, response) => {
    const form = forms[request.url ?? ''];
    response.writeHead(form ? 200 : 404, { 'content-type': 'text/html' });
    response.end(form ? `<!DOCTYPE html><body>${form}<script>document.forms[0].submit()</script></body>` : '');
  });
  await new Promise<void>((resolve) => attacker.listen(0, resolve));
  attackerUrl = `http://localhost:${(attacker.address() as AddressInfo).port}`;
  browser = await openBrowser();
  page = await browser.page();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => attacker?.close(resolve));
  await berth?.close();
});

describe('markup from images', () => {
  it('is shown as text and never runs', async () => {
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await signInInBrowser();
    for (const target of ['/repository?name=xss/app', '/image?name=xss/app&ref=v1']) {
      const response = await page.goto(`${berth.url}${target}`);
      expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
      await page.waitForLoadState('load');
      expect(await page.evaluate(() => (globalThis as { __xss?: string }).__xss), target).toBeUndefined();
    }
    const text = await textOf(page.locator('main'));
    for (const payload of [PAYLOADS.script, PAYLOADS.attribute, PAYLOADS.single, PAYLOADS.iframe]) expect(text).toContain(payload);
    // Only Berth's own elements: its one script, no image, frame or svg made from the payloads.
    expect(await page.locator('script').count()).toBe(1);
    expect(await page.locator('main img, main iframe, main svg').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });
});

describe('a form on another site', () => {
  it('cannot delete a tag, mint an API key or sign the browser in', async () => {
    for (const path of ['/delete', '/key']) {
      await page.goto(`${attackerUrl}${path}`);
      await page.waitForURL(`${berth.url}/**`);
      // SameSite=Lax keeps the session cookie off a cross-site post: Berth sees a stranger.
      expect(new URL(page.url()).pathname, path).toBe('/login');
    }
    expect(await tagExists('v1')).toBe(true);
    expect((await json(await fetch(`${berth.url}/zot/auth/apikey`, { headers: ADMIN }))).apiKeys).toEqual([]);

    await browser.newUser();
    await page.goto(`${attackerUrl}/login`);
    await page.waitForURL(`${berth.url}/**`);
    expect(await textOf(page.getByRole('heading', { level: 1 }))).toBe('Form refused');
    expect((await browser.context.cookies(berth.url)).map((cookie) => cookie.name)).not.toContain('session');
  });

  it('is refused even when the cookie is sent (a same-site page or an older browser)', async () => {
    const root = await signInWithPassword(berth.url, 'root', 'root-pw');
    const post = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
      root.browse('/repository/delete-tag?name=xss/app&tag=v1', {
        method: 'POST',
        body: new URLSearchParams(fields).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      });
    const token = formTokenOf(await (await root.browse('/repository?name=xss/app')).text());
    const refusals = [
      await post({}),
      await post({ csrf: 'forged' }),
      await post({ csrf: token }, { 'sec-fetch-site': 'cross-site' }),
      await post({ csrf: token }, { 'sec-fetch-site': 'same-site' }),
      await post({ csrf: token }, { origin: 'http://evil.example' }),
    ];
    for (const refusal of refusals) {
      expect(refusal.status).toBe(403);
      expect(await refusal.text()).toContain('This form was sent from another site, or it has expired.');
    }
    // Another browser's token does not fit this browser's session.
    const other = await signInWithPassword(berth.url, 'root', 'root-pw');
    const otherToken = formTokenOf(await (await other.browse('/repository?name=xss/app')).text());
    expect((await post({ csrf: otherToken })).status).toBe(403);
    expect(await tagExists('v1')).toBe(true);

    const accepted = await post({ csrf: token });
    expect(accepted.status).toBe(303);
    expect(accepted.headers.get('location')).toBe('/repository?name=xss%2Fapp&deleted=v1');
    expect(await tagExists('v1')).toBe(false);
    expect(await tagExists('v2')).toBe(true);
  });

  it('cannot sign in with a password without the sign-in page’s token', async () => {
    const response = await navigate(`${berth.url}/login`, { method: 'POST', body: 'username=root&password=root-pw', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(response.status).toBe(403);
    expect(response.headers.getSetCookie().some((cookie) => cookie.startsWith('session='))).toBe(false);
  });
});

describe('a cookie-authenticated change from another origin', () => {
  it('is refused on every state-changing endpoint the session may use, and allowed from Berth’s own origin', async () => {
    const root = await signInWithPassword(berth.url, 'root', 'root-pw');
    const create = (headers: Record<string, string>) =>
      root.api('/zot/auth/apikey', { method: 'POST', body: JSON.stringify({ label: 'k' }), headers: { 'content-type': 'application/json', ...headers } });
    const foreign: Array<Record<string, string>> = [{ origin: 'http://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }];
    for (const headers of foreign) {
      const refused = await create(headers);
      expect(refused.status, JSON.stringify(headers)).toBe(403);
      expect((await json(refused)).errors[0]).toMatchObject({ code: 'DENIED', detail: { reason: 'cross-site' } });
    }
    expect((await json(await fetch(`${berth.url}/zot/auth/apikey`, { headers: ADMIN }))).apiKeys).toEqual([]);
    const made = await create({ origin: berth.url, 'sec-fetch-site': 'same-origin' });
    expect(made.status).toBe(201);
    const { uuid } = await json(made);
    for (const headers of foreign) {
      expect((await root.api(`/zot/auth/apikey?id=${uuid}`, { method: 'DELETE', headers })).status, JSON.stringify(headers)).toBe(403);
      expect((await root.api('/zot/auth/logout', { method: 'POST', headers })).status, JSON.stringify(headers)).toBe(403);
    }
    // Still signed in, the key still there; from Berth's own origin both work.
    expect((await json(await root.api('/zot/auth/apikey'))).apiKeys).toHaveLength(1);
    expect((await root.api(`/zot/auth/apikey?id=${uuid}`, { method: 'DELETE', headers: { origin: berth.url } })).status).toBe(200);
    expect((await root.api('/zot/auth/logout', { method: 'POST', headers: { origin: berth.url } })).status).toBe(200);
    expect((await root.api('/api/ui/me')).status).toBe(401);
  });

  it('does not concern clients that send no session (Basic from a script with any Origin)', async () => {
    const response = await fetch(`${berth.url}/zot/auth/apikey`, {
      method: 'POST',
      body: JSON.stringify({ label: 'script' }),
      headers: { ...ADMIN, origin: 'http://evil.example', 'content-type': 'application/json' },
    });
    expect(response.status).toBe(201);
    expect((await fetch(`${berth.url}/zot/auth/apikey?id=${(await json(response)).uuid}`, { method: 'DELETE', headers: ADMIN })).status).toBe(200);
  });
});
