/**
 * The web UI's JSON API and pages over HTTP: who sees what (a reader never sees a forbidden
 * repository, tag or size, and cannot tell whether it exists), pagination and search over many
 * repositories, 401 without a session, the session cookie counting only where it should, and the
 * security headers of every UI response.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { writeHtpasswd, basicAuth } from '../helpers/htpasswd.js';
import { json, pushImage } from '../helpers/registry-api.js';
import { signInWithPassword, UI_HEADER, type UiSession } from '../helpers/ui-session.js';
import { OCI_MANIFEST } from '../helpers/oci.js';

let berth: TestServer;
let root: UiSession;
let rita: UiSession;
const ADMIN = { authorization: basicAuth('root', 'root-pw') };
const TEAM_REPOSITORIES = 120;

beforeAll(async () => {
  const htpasswd = await writeHtpasswd({ root: 'root-pw', rita: 'rita-pw' });
  berth = await startBerth({
    config: {
      extensions: { ui: { enable: true } },
      http: {
        auth: { htpasswd: { path: htpasswd }, apikey: true },
        accessControl: {
          groups: { readers: { users: ['rita'] } },
          repositories: { 'team/**': { policies: [{ groups: ['readers'], actions: ['read'] }] }, 'secret/**': { policies: [] } },
          adminPolicy: { users: ['root'], actions: ['read', 'create', 'update', 'delete'] },
        },
      },
    },
  });
  const pushes = [];
  for (let i = 0; i < TEAM_REPOSITORIES; i += 1) pushes.push(pushImage(berth.url, `team/app-${String(i).padStart(3, '0')}`, 'v1', { layers: 1, headers: ADMIN }));
  await Promise.all(pushes);
  await pushImage(berth.url, 'secret/vault', 'v1', { headers: ADMIN });
  // Pushed last, so sorting by last push puts it first.
  await pushImage(berth.url, 'team/app-050', 'v2', { layers: 1, headers: ADMIN });
  root = await signInWithPassword(berth.url, 'root', 'root-pw');
  rita = await signInWithPassword(berth.url, 'rita', 'rita-pw');
});

afterAll(async () => {
  await berth?.close();
});

describe('the JSON API', () => {
  it('answers 401 without a session, and ignores the cookie without the UI header', async () => {
    for (const path of ['/api/ui/me', '/api/ui/repositories', '/api/ui/repository?repository=team/app-001', '/api/ui/image?repository=team/app-001&reference=v1']) {
      expect((await fetch(`${berth.url}${path}`, { headers: UI_HEADER })).status, path).toBe(401);
      expect((await rita.browse(path)).status, path).toBe(401);
      expect((await rita.api(path)).status, path).toBe(200);
    }
  });

  it('tells who I am, my groups and the rules that apply to me', async () => {
    const me = await json(await rita.api('/api/ui/me'));
    expect(me).toMatchObject({ username: 'rita', groups: ['readers'], method: 'session', provider: 'htpasswd', apiKeys: true });
    expect(me.access).toEqual({ mode: 'rules', grants: [{ pattern: 'team/**', actions: ['read'], reasons: [{ kind: 'group', group: 'readers' }] }], narrowed: true });
  });

  it('lists only readable repositories, paginated, with tag count, size and last push', async () => {
    const first = await json(await rita.api('/api/ui/repositories?perPage=50'));
    expect(first).toMatchObject({ total: TEAM_REPOSITORIES, page: 1, perPage: 50, pages: 3 });
    expect(first.repositories).toHaveLength(50);
    expect(first.repositories[0]).toMatchObject({ name: 'team/app-000', tagCount: 1 });
    expect(first.repositories[0].size).toBeGreaterThan(1000);
    expect(first.repositories[0].lastPush).toMatch(/^\d{4}-\d\d-\d\dT/);
    const last = await json(await rita.api('/api/ui/repositories?perPage=50&page=3'));
    expect(last.repositories.map((repository: { name: string }) => repository.name)).toEqual(Array.from({ length: 20 }, (_, i) => `team/app-${100 + i}`));
    const all = await json(await root.api('/api/ui/repositories?perPage=200'));
    expect(all.total).toBe(TEAM_REPOSITORIES + 1);
    expect(JSON.stringify(await json(await rita.api('/api/ui/repositories?perPage=200')))).not.toContain('secret');
  });

  it('searches by name and sorts by last push', async () => {
    const found = await json(await rita.api('/api/ui/repositories?q=APP-05'));
    expect(found.repositories.map((repository: { name: string }) => repository.name)).toEqual(Array.from({ length: 10 }, (_, i) => `team/app-05${i}`));
    expect((await json(await rita.api('/api/ui/repositories?q=vault'))).total).toBe(0);
    const pushed = await json(await rita.api('/api/ui/repositories?sort=pushed&perPage=1'));
    expect(pushed.repositories[0]).toMatchObject({ name: 'team/app-050', tagCount: 2 });
  });

  it('refuses bad paging', async () => {
    expect((await rita.api('/api/ui/repositories?perPage=100000')).status).toBe(400);
    expect((await rita.api('/api/ui/repositories?page=0')).status).toBe(400);
  });

  it('shows a repository with its tags and whether I may delete them', async () => {
    const detail = await json(await rita.api('/api/ui/repository?repository=team/app-050'));
    expect(detail).toMatchObject({ name: 'team/app-050', tagCount: 2, canDelete: false, host: berth.host, total: 2 });
    expect(detail.tags.map((tag: { tag: string }) => tag.tag)).toEqual(['v2', 'v1']);
    expect(detail.tags[0]).toMatchObject({ kind: 'image', mediaType: OCI_MANIFEST, platforms: [{ os: 'linux', architecture: 'amd64' }] });
    expect((await json(await root.api('/api/ui/repository?repository=team/app-050'))).canDelete).toBe(true);
  });

  it('shows an image with config, layers and referrers', async () => {
    const image = await json(await rita.api('/api/ui/image?repository=team/app-001&reference=v1'));
    expect(image).toMatchObject({ repository: 'team/app-001', kind: 'image', tags: ['v1'], referrers: [] });
    expect(image.layers).toHaveLength(1);
    expect(image.config.details).toMatchObject({ os: 'linux', architecture: 'amd64' });
    const byDigest = await json(await rita.api(`/api/ui/image?repository=team/app-001&reference=${image.digest}`));
    expect(byDigest.digest).toBe(image.digest);
  });

  it('never tells a reader whether a forbidden repository exists', async () => {
    for (const path of ['/api/ui/repository?repository=secret/vault', '/api/ui/repository?repository=secret/nothing', '/api/ui/image?repository=secret/vault&reference=v1']) {
      const response = await rita.api(path);
      expect(response.status, path).toBe(403);
      expect(await response.text()).not.toMatch(/sha256|size/);
    }
    expect((await rita.api('/api/ui/repository?repository=team/nothing')).status).toBe(404);
    expect((await rita.api('/api/ui/repository')).status).toBe(400);
  });
});

describe('the pages', () => {
  it('send a signed-out visitor to sign in, and back afterwards', async () => {
    const response = await fetch(`${berth.url}/repository?name=team/app-001`, { redirect: 'manual' });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/login?next=%2Frepository%3Fname%3Dteam%2Fapp-001');
  });

  it('use the session cookie on a top-level navigation, but not on a subresource request', async () => {
    const page = await rita.browse('/repositories', { headers: { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', 'sec-fetch-site': 'cross-site' } });
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain('team/app-000');
    expect(text).not.toContain('secret');
    const embedded = await rita.browse('/repositories', { headers: { 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' } });
    expect(embedded.status).toBe(303);
  });

  it('refuse a forbidden repository in words, the same whether it exists or not', async () => {
    const pages = await Promise.all(['secret/vault', 'secret/nothing'].map((name) => rita.browse(`/repository?name=${name}`)));
    const texts = await Promise.all(pages.map((page) => page.text()));
    expect(pages.map((page) => page.status)).toEqual([403, 403]);
    expect(texts[0]).toContain('Not allowed');
    expect(texts[0]!.replace(/vault/g, 'nothing')).toBe(texts[1]);
  });

  it('show a delete button only to those who may delete', async () => {
    expect(await (await rita.browse('/repository?name=team/app-001')).text()).not.toContain('delete-tag');
    expect(await (await root.browse('/repository?name=team/app-001')).text()).toContain('action="/repository/delete-tag?name=team%2Fapp-001&amp;tag=v1"');
  });

  it('paginate the repositories page', async () => {
    const text = await (await rita.browse('/repositories?page=2')).text();
    expect(text).toContain('Repositories 51–100 of 120');
    expect(text).toContain('href="/repositories?page=3"');
  });

  it('carry the security headers, also on errors and on the API', async () => {
    for (const response of [await rita.browse('/repositories'), await rita.browse('/repository?name=secret/vault'), await rita.api('/api/ui/me'), await fetch(`${berth.url}/login`)]) {
      expect(response.headers.get('content-security-policy')).toBe(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('same-origin');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
    }
  });

  it('serve versioned assets for a year, and no page has inline script or style', async () => {
    const page = await (await fetch(`${berth.url}/login`)).text();
    const css = /href="(\/ui\/assets\/berth\.css\?v=[0-9a-f]{12})"/.exec(page)![1]!;
    const asset = await fetch(`${berth.url}${css}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(asset.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await fetch(`${berth.url}/ui/assets/nothing.js`)).status).toBe(404);
    expect(page).not.toMatch(/<script>|<script(?![^>]*\bsrc=)[^>]*>|<style|style="|\son[a-z]+="/);
  });
});

describe('sign-in page', () => {
  it('offers guests access when some repository is public, and explains a provider that is down', async () => {
    const htpasswd = await writeHtpasswd({ root: 'root-pw' });
    const server = await startBerth({
      config: {
        extensions: { ui: {} },
        http: {
          auth: { htpasswd: { path: htpasswd }, openid: { providers: { oidc: { name: 'Pocket ID', issuer: 'http://127.0.0.1:9', clientid: 'berth', scopes: ['openid'] } } } },
          accessControl: { repositories: { 'public/**': { anonymousPolicy: ['read'] } }, adminPolicy: { users: ['root'], actions: ['read', 'create'] } },
        },
      },
    });
    try {
      await pushImage(server.url, 'public/hello', 'v1', { headers: { authorization: basicAuth('root', 'root-pw') } });
      const login = await (await fetch(`${server.url}/login`)).text();
      expect(login).toContain('Continue as guest');
      expect(login).toMatch(/Pocket ID is unavailable: the identity provider at http:\/\/127\.0\.0\.1:9 cannot be reached/);
      const start = await fetch(`${server.url}/zot/auth/login?provider=oidc&callback_ui=/repositories`, { redirect: 'manual' });
      expect(start.status).toBe(303);
      expect(start.headers.get('location')).toBe('/login?error=unavailable&provider=oidc&next=%2Frepositories');
      expect(await (await fetch(`${server.url}${start.headers.get('location')}`)).text()).toContain('Pocket ID: The identity provider cannot be reached right now.');
      const guest = await fetch(`${server.url}/repositories`);
      expect(await guest.text()).toContain('public/hello');
      expect(await json(await fetch(`${server.url}/api/ui/me`, { headers: UI_HEADER }))).toMatchObject({
        username: null,
        access: { grants: [{ pattern: 'public/**', actions: ['read'], reasons: [{ kind: 'anonymous' }] }] },
      });
    } finally {
      await server.close();
    }
  });
});
