/**
 * Redis taken away from a replica: writes and sign-ins fail cleanly with 503 and a message saying
 * what is missing, reads go on from the bucket, /readyz names Redis, nothing stored is damaged, and
 * everything works again once Redis is back.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { pushImage, type PushedImage } from '../helpers/registry-api.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { signInWithPassword, UI_HEADER, type UiSession } from '../helpers/ui-session.js';
import { OCI_MANIFEST, sha256 } from '../helpers/oci.js';

const ROBOT = basicAuth('buildbot', 'robot-secret');
let redis: RedisServer;
let berth: TestServer;
let image: PushedImage;
let browser: UiSession;

beforeAll(async () => {
  redis = await startRedis();
  berth = await startBerth({
    backend: 's3',
    config: {
      extensions: { ui: { enable: true } },
      storage: { cacheDriver: { name: 'redis', url: redis.url, keyprefix: 'loss' } },
      http: {
        auth: { htpasswd: { path: await writeHtpasswd({ buildbot: 'robot-secret' }) } },
        accessControl: { repositories: { '**': { policies: [{ users: ['buildbot'], actions: ['read', 'create', 'update', 'delete'] }], anonymousPolicy: ['read'] } } },
      },
    },
  });
  image = await pushImage(berth.url, 'loss/app', 'v1', { headers: { authorization: ROBOT } });
  browser = await signInWithPassword(berth.url, 'buildbot', 'robot-secret');
});

afterAll(async () => {
  await berth?.close();
  await redis?.stop();
});

async function errorOf(response: Response): Promise<{ code: string; detail?: unknown }> {
  return ((await response.json()) as { errors: Array<{ code: string; detail?: unknown }> }).errors[0]!;
}

describe('losing Redis', () => {
  it('fails writes with 503 naming Redis, keeps reads working, reports it in /readyz, and recovers', async () => {
    await redis.kill();

    // Reads come from the bucket and need no lock.
    const manifest = await fetch(`${berth.url}/v2/loss/app/manifests/v1`);
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('docker-content-digest')).toBe(image.digest);
    expect(sha256(Buffer.from(await manifest.arrayBuffer()))).toBe(image.digest);
    expect((await fetch(`${berth.url}/v2/loss/app/tags/list`)).status).toBe(200);

    // Writes need the shared locks and upload sessions: a clean 503 with the reason.
    const started = await fetch(`${berth.url}/v2/loss/app/blobs/uploads/`, { method: 'POST', headers: { authorization: ROBOT } });
    expect(started.status).toBe(503);
    expect(await errorOf(started)).toEqual({ code: 'UNAVAILABLE', message: 'service unavailable', detail: expect.stringMatching(/^Redis is unreachable/) });
    const bytes = randomBytes(1000);
    const monolithic = await fetch(`${berth.url}/v2/loss/app/blobs/uploads/?digest=${sha256(bytes)}`, { method: 'POST', headers: { authorization: ROBOT }, body: bytes });
    expect(monolithic.status).toBe(503);
    const tag = await fetch(`${berth.url}/v2/loss/app/manifests/v2`, {
      method: 'PUT',
      headers: { authorization: ROBOT, 'content-type': OCI_MANIFEST },
      body: image.manifest,
    });
    expect(tag.status).toBe(503);
    expect((await errorOf(tag)).code).toBe('UNAVAILABLE');

    // Sessions live in Redis: a sign-in and a signed-in page fail the same clean way; Basic reads go on.
    const signIn = await fetch(`${berth.url}/v2/`, { headers: { ...UI_HEADER, authorization: ROBOT } });
    expect(signIn.status).toBe(503);
    expect(signIn.headers.get('set-cookie') ?? '').not.toMatch(/session=[^;]/);
    const page = await browser.api('/api/ui/me');
    expect(page.status).toBe(503);
    expect((await errorOf(page)).detail).toMatch(/^Redis is unreachable/);
    expect((await fetch(`${berth.url}/v2/loss/app/manifests/v1`, { headers: { authorization: ROBOT } })).status).toBe(200);

    const ready = await fetch(`${berth.url}/readyz`);
    expect(ready.status).toBe(503);
    expect((await errorOf(ready)).detail).toMatch(/s3 bucket .*: ok; redis: Redis is unreachable/);

    // Nothing half-done: what was there is intact, nothing new appeared.
    expect((await fetch(`${berth.url}/v2/loss/app/manifests/v2`)).status).toBe(404);
    expect((await fetch(`${berth.url}/v2/loss/app/blobs/${sha256(bytes)}`, { method: 'HEAD' })).status).toBe(404);

    await redis.restart();
    for (let i = 0; i < 50 && (await fetch(`${berth.url}/readyz`)).status !== 200; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await fetch(`${berth.url}/readyz`)).status).toBe(200);
    const again = await fetch(`${berth.url}/v2/loss/app/blobs/uploads/?digest=${sha256(bytes)}`, { method: 'POST', headers: { authorization: ROBOT }, body: bytes });
    expect(again.status).toBe(201);
    const retagged = await fetch(`${berth.url}/v2/loss/app/manifests/v2`, {
      method: 'PUT',
      headers: { authorization: ROBOT, 'content-type': OCI_MANIFEST },
      body: image.manifest,
    });
    expect(retagged.status).toBe(201);
    expect((await fetch(`${berth.url}/v2/loss/app/manifests/v1`)).headers.get('docker-content-digest')).toBe(image.digest);
    // This Redis keeps nothing across a restart (no persistence): sessions are gone, signing in works.
    expect((await browser.api('/api/ui/me')).status).toBe(401);
    const fresh = await signInWithPassword(berth.url, 'buildbot', 'robot-secret');
    expect((await fresh.api('/api/ui/me')).status).toBe(200);
  });
});
