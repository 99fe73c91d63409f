import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { errorCode, json, pushBlob, pushImage } from '../helpers/registry-api.js';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { OCI_MANIFEST, sha256 } from '../helpers/oci.js';

const PASSWORDS = { admin: 'admin-pw', buildbot: 'bot-pw', reader: 'read-pw', lead: 'lead-pw' };
const ACCESS = {
  groups: { robots: { users: ['buildbot'] }, leads: { users: ['lead'] } },
  repositories: {
    '**': { defaultPolicy: ['read'], anonymousPolicy: [] as string[] },
    'public/**': { anonymousPolicy: ['read'], defaultPolicy: ['read'] },
    'ci/**': {
      policies: [
        { groups: ['robots'], actions: ['read', 'create'] },
        { groups: ['leads'], actions: ['read', 'create', 'update', 'delete', 'detectManifestCollision'] },
      ],
      defaultPolicy: ['read'],
    },
    'private/**': { policies: [{ users: ['buildbot'], actions: ['read', 'create'] }] },
  },
  adminPolicy: { users: ['admin'], actions: ['read', 'create', 'update', 'delete'] },
};

let server: TestServer;
let seeded: { ci: string; publicImage: string };
const as = (user: keyof typeof PASSWORDS) => ({ authorization: basicAuth(user, PASSWORDS[user]) });

/** fetch with Basic credentials; pushes go through the admin so each test sets up what it needs. */
function withAuth(url: string, headers: Record<string, string>) {
  return (input: string, init: RequestInit = {}) => fetch(`${url}${input}`, { ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } });
}

beforeAll(async () => {
  const htpasswd = await writeHtpasswd(PASSWORDS);
  server = await startBerth({ config: { http: { realm: 'Berth test', auth: { htpasswd: { path: htpasswd }, failDelay: 1 }, accessControl: ACCESS } } });
  const headers = as('admin');
  seeded = { ci: (await pushImage(server.url, 'ci/app', 'v1', { headers })).digest, publicImage: (await pushImage(server.url, 'public/base', 'v1', { headers })).digest };
  await pushImage(server.url, 'private/app', 'v1', { headers });
  await pushImage(server.url, 'other/app', 'v1', { headers });
});
afterAll(async () => server.close());

describe('authentication', () => {
  it('GET /v2/ challenges registry clients, tells the UI guests are welcome, and is 200 with valid credentials', async () => {
    const anonymous = await fetch(`${server.url}/v2/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="Berth test"');
    const ui = await fetch(`${server.url}/v2/`, { headers: { 'x-zot-api-client': 'zot-ui' } });
    expect(ui.status).toBe(200);
    expect((await fetch(`${server.url}/v2/`, { headers: as('reader') })).status).toBe(200);
  });

  it('a password sign-in from the UI starts a session that the UI header then carries', async () => {
    const signIn = await fetch(`${server.url}/v2/`, { headers: { ...as('reader'), 'x-zot-api-client': 'zot-ui' } });
    expect(signIn.status).toBe(200);
    const cookies = signIn.headers.getSetCookie();
    const session = cookies.find((line) => line.startsWith('session='))!;
    expect(session).toMatch(/HttpOnly/);
    expect(cookies.some((line) => line.startsWith('user=reader'))).toBe(true);
    const cookie = session.split(';')[0]!;
    expect((await fetch(`${server.url}/v2/ci/app/tags/list`, { headers: { cookie, 'x-zot-api-client': 'zot-ui' } })).status).toBe(200);
    expect((await fetch(`${server.url}/v2/ci/app/tags/list`, { headers: { cookie } })).status).toBe(401);
    // A CLI client's password never starts a session.
    expect((await fetch(`${server.url}/v2/`, { headers: as('reader') })).headers.getSetCookie()).toEqual([]);
  });

  it('wrong passwords and unknown users get 401 with the Basic challenge, after failDelay', async () => {
    for (const authorization of [basicAuth('reader', 'nope'), basicAuth('ghost', 'read-pw')]) {
      const started = Date.now();
      const response = await fetch(`${server.url}/v2/`, { headers: { authorization } });
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Basic realm="Berth test"');
      expect(await errorCode(response)).toBe('UNAUTHORIZED');
    }
  });

  it.each([
    ['a malformed header', 'Basic %%%'],
    ['no colon', `Basic ${Buffer.from('reader').toString('base64')}`],
    ['a non-UTF-8 user name', `Basic ${Buffer.from([0xc3, 0x28, 0x3a, 0x61]).toString('base64')}`],
    ['another scheme', 'Bearer abc.def.ghi'],
  ])('%s gets a clean 401', async (_why, authorization) => {
    const response = await fetch(`${server.url}/v2/public/base/tags/list`, { headers: { authorization } });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect((await json(response)).errors[0]).toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('a huge header gets the OCI error JSON, not a 500', async () => {
    const response = await fetch(`${server.url}/v2/`, { headers: { authorization: `Basic ${'A'.repeat(20_000)}` } });
    expect(response.status).toBe(431);
    expect(await errorCode(response)).toBe('BODY_INVALID');
  });
});

describe('authorization', () => {
  it('anonymous read works only where anonymousPolicy allows it', async () => {
    const open = await fetch(`${server.url}/v2/public/base/manifests/v1`);
    expect(open.status).toBe(200);
    const closed = await fetch(`${server.url}/v2/ci/app/manifests/v1`);
    expect(closed.status).toBe(401);
    expect(closed.headers.get('www-authenticate')).toBe('Basic realm="Berth test"');
  });

  it('a forbidden repository answers the same whether or not it exists', async () => {
    for (const repo of ['private/app', 'private/nothing-here']) {
      const denied = await fetch(`${server.url}/v2/${repo}/tags/list`, { headers: as('reader') });
      expect(denied.status, repo).toBe(403);
      expect(await json(denied)).toEqual({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied', detail: { name: repo, action: 'read' } }] });
      const anonymous = await fetch(`${server.url}/v2/${repo}/tags/list`);
      expect(anonymous.status, repo).toBe(401);
    }
  });

  it('a robot with create pushes; a reader cannot', async () => {
    const bot = withAuth(server.url, as('buildbot'));
    const start = await bot('/v2/ci/new/blobs/uploads/', { method: 'POST' });
    expect(start.status).toBe(202);
    const reader = withAuth(server.url, as('reader'));
    const refused = await reader('/v2/ci/new/blobs/uploads/', { method: 'POST' });
    expect(refused.status).toBe(403);
    expect(await errorCode(refused)).toBe('DENIED');
  });

  it('create may add a tag but moving an existing tag needs update', async () => {
    const bot = withAuth(server.url, as('buildbot'));
    const manifest = Buffer.from(await (await bot('/v2/ci/app/manifests/v1')).arrayBuffer());
    // Same content under the same tag is not a move.
    expect((await bot('/v2/ci/app/manifests/v1', { method: 'PUT', body: manifest, headers: { 'content-type': OCI_MANIFEST } })).status).toBe(201);
    expect((await bot('/v2/ci/app/manifests/v2', { method: 'PUT', body: manifest, headers: { 'content-type': OCI_MANIFEST } })).status).toBe(201);
    const other = JSON.parse(manifest.toString());
    other.annotations = { 'org.example.rebuilt': 'yes' };
    const moved = Buffer.from(JSON.stringify(other));
    const denied = await bot('/v2/ci/app/manifests/v1', { method: 'PUT', body: moved, headers: { 'content-type': OCI_MANIFEST } });
    expect(denied.status).toBe(403);
    expect((await json(denied)).errors[0]).toMatchObject({ code: 'DENIED', detail: { action: 'update', tag: 'v1' } });
    expect((await bot('/v2/ci/app/manifests/v1')).headers.get('docker-content-digest')).toBe(seeded.ci);
    const lead = withAuth(server.url, as('lead'));
    expect((await lead('/v2/ci/app/manifests/v1', { method: 'PUT', body: moved, headers: { 'content-type': OCI_MANIFEST } })).status).toBe(201);
  });

  it('detectManifestCollision refuses to delete a manifest several tags point to', async () => {
    const lead = withAuth(server.url, as('lead'));
    const manifest = Buffer.from(await (await lead('/v2/ci/app/manifests/v2')).arrayBuffer());
    await lead('/v2/ci/app/manifests/v3', { method: 'PUT', body: manifest, headers: { 'content-type': OCI_MANIFEST } });
    const refused = await lead(`/v2/ci/app/manifests/${sha256(manifest)}`, { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect((await json(refused)).errors[0].detail.tags.sort()).toEqual(['v2', 'v3']);
    const admin = withAuth(server.url, as('admin'));
    expect((await admin(`/v2/ci/app/manifests/${sha256(manifest)}`, { method: 'DELETE' })).status).toBe(202);
  });

  it('a mount needs read on the source; without it the blob is not mounted and nothing leaks', async () => {
    const secretBlob = await pushBlob(server.url, 'private/app', Buffer.from('only robots may read this'), as('admin'));
    const lead = withAuth(server.url, as('lead'));
    const attempt = await lead(`/v2/ci/mounted/blobs/uploads/?mount=${secretBlob}&from=private/app`, { method: 'POST' });
    expect(attempt.status).toBe(202);
    expect((await lead(`/v2/ci/mounted/blobs/${secretBlob}`, { method: 'HEAD' })).status).toBe(404);
    const bot = withAuth(server.url, as('buildbot'));
    const mounted = await bot(`/v2/ci/mounted/blobs/uploads/?mount=${secretBlob}&from=private/app`, { method: 'POST' });
    expect(mounted.status).toBe(201);
  });

  it('the catalog lists only what the caller may read', async () => {
    const all = ['ci/app', 'ci/mounted', 'ci/new', 'other/app', 'private/app', 'public/base'];
    const admin = await json(await fetch(`${server.url}/v2/_catalog`, { headers: as('admin') }));
    expect(admin.repositories).toEqual(all);
    const reader = await json(await fetch(`${server.url}/v2/_catalog`, { headers: as('reader') }));
    expect(reader.repositories).toEqual(all.filter((name) => !name.startsWith('private/')));
    const anonymous = await json(await fetch(`${server.url}/v2/_catalog`));
    expect(anonymous.repositories).toEqual(['public/base']);
  });
});
