/**
 * Auth state shared by replicas through Redis: two Security instances over two RedisCoordinations
 * with the same prefix stand for two Berth replicas. Sign in on A, browse on B, sign out on B and
 * the cookie is dead on A.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { seal, signValue, unseal, unsignValue } from '../../../src/auth/cookie-keys.js';
import { Security, type SecurityLog } from '../../../src/auth/security.js';
import { buildConfig } from '../../../src/config/load-config.js';
import { RedisCoordination } from '../../../src/coordination/redis-coordination.js';
import { localCoordination } from '../../../src/storage/file-records.js';
import { startRedis, type RedisServer } from '../../helpers/redis-server.js';
import { scratchDir } from '../../helpers/scratch.js';
import { redisUrl } from '../../helpers/services.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

const log = (lines: string[] = []): SecurityLog => ({ info: (line) => lines.push(line), warn: (line) => lines.push(line), error: (line) => lines.push(line) });

async function configFor(http: Record<string, unknown> = {}) {
  return buildConfig({ storage: { rootDirectory: await scratchDir('root') }, http }, 'test.json');
}

async function replica(url: string, keyPrefix: string, config: Awaited<ReturnType<typeof configFor>>, lines?: string[]) {
  const coordination = await RedisCoordination.start({ url, keyPrefix });
  const security = await Security.create(config, log(lines), { coordination });
  cleanup.push(
    () => coordination.close(),
    () => security.close(),
  );
  return security;
}

async function twoReplicas(http: Record<string, unknown> = {}) {
  const keyPrefix = `test-${randomBytes(6).toString('hex')}`;
  // Each replica has its own disk: nothing may pass through files.
  return { a: await replica(redisUrl(), keyPrefix, await configFor(http)), b: await replica(redisUrl(), keyPrefix, await configFor(http)) };
}

describe('auth state over Redis', () => {
  it('a session started on one replica works on the other; signing out on either ends it on both', async () => {
    const { a, b } = await twoReplicas();
    const session = await a.sessions.create({ username: 'alice', groups: ['dev'], provider: 'oidc', idToken: 'token' });
    const cookie = signValue(a.cookieKeys, session.id);
    const id = unsignValue(b.cookieKeys, cookie);
    expect(id).toBe(session.id);
    expect(await b.sessions.get(id!)).toMatchObject({ username: 'alice', groups: ['dev'], expires: session.expires });
    expect((await b.sessions.destroy(id!))?.idToken).toBe('token');
    expect(await a.sessions.get(session.id)).toBeUndefined();
    expect(await b.sessions.destroy(id!)).toBeUndefined();
  });

  it('a sign-in started on one replica finishes on the other, once', async () => {
    const { a, b } = await twoReplicas();
    const pending = { provider: 'oidc', state: 'state-1', nonce: 'n', verifier: 'v', redirectUri: 'https://berth.example/zot/auth/callback/oidc' };
    expect(unseal(b.cookieKeys, seal(a.cookieKeys, pending, Date.now() + 60_000))).toEqual(pending);
    expect(await b.claimLogin('state-1')).toBe(true);
    expect(await a.claimLogin('state-1')).toBe(false);
    expect(await b.claimLogin('state-1')).toBe(false);
    expect(await a.claimLogin('state-2')).toBe(true);
  });

  it('users and API keys are shared: a key made on one replica works on the other until revoked there', async () => {
    const { a, b } = await twoReplicas();
    expect(await a.users.signIn('alice', 'oidc', 'sub-a', ['dev'])).toEqual({ ok: true, adopted: false });
    expect(await b.users.get('alice')).toMatchObject({ groups: ['dev'], provider: 'oidc', sub: 'sub-a' });
    // The name is bound: the same name with another subject is refused on the other replica too.
    expect(await b.users.signIn('alice', 'oidc', 'sub-b', ['admins'])).toMatchObject({ ok: false, reason: 'another-subject' });
    expect(await a.users.get('alice')).toMatchObject({ groups: ['dev'], sub: 'sub-a' });
    const { key, record } = await a.apiKeys.create({ username: 'alice', provider: 'oidc', subject: 'sub-a' }, 'ci', undefined, 'podman');
    expect(await b.apiKeys.verify('alice', key)).toMatchObject({ id: record.id });
    expect(await b.apiKeys.verify('bob', key)).toBeUndefined();
    expect((await b.apiKeys.list('alice')).map((view) => view.label)).toEqual(['ci']);
    // The lastUsed update (made in the background by verify) never brings back a revoked key.
    expect(await b.apiKeys.revoke('bob', record.id)).toBe(false);
    expect(await b.apiKeys.revoke('alice', record.id)).toBe(true);
    await sleep(50);
    expect(await a.apiKeys.verify('alice', key)).toBeUndefined();
    expect(await a.apiKeys.list('alice')).toEqual([]);
  });

  it('with sessionKeysFile, the file’s keys are used, not Redis’', async () => {
    const file = path.join(await scratchDir('keys'), 'keys.json');
    await writeFile(file, JSON.stringify({ hashKey: 'h'.repeat(32), encryptKey: 'e'.repeat(32) }));
    const { a } = await twoReplicas({ auth: { sessionKeysFile: file } });
    const local = await Security.create(await configFor({ auth: { sessionKeysFile: file } }), log(), { coordination: localCoordination(await scratchDir('root')) });
    cleanup.push(() => local.close());
    expect(unsignValue(local.cookieKeys, signValue(a.cookieKeys, 'x'))).toBe('x');
  });

  it('a replica started while Redis is down adopts the shared keys once Redis answers', { timeout: 30_000 }, async () => {
    const server: RedisServer = await startRedis();
    cleanup.push(() => server.stop());
    const keyPrefix = `test-${randomBytes(6).toString('hex')}`;
    const up = await replica(server.url, keyPrefix, await configFor());
    await server.kill();
    const lines: string[] = [];
    const late = await replica(server.url, keyPrefix, await configFor(), lines);
    expect(lines.join('\n')).toMatch(/cookie keys cannot be read/);
    expect(unsignValue(late.cookieKeys, signValue(up.cookieKeys, 'x'))).toBeUndefined();
    // A Redis without persistence comes back empty: the first replica to ask makes new keys, and
    // both replicas end up with them.
    await server.restart();
    const deadline = Date.now() + 20_000;
    while (unsignValue(late.cookieKeys, signValue(up.cookieKeys, 'x')) !== 'x' || !late.cookieKeys.persistent) {
      expect(Date.now()).toBeLessThan(deadline);
      await sleep(200);
      // `up` checks every minute: do now what its next check will do.
      if (late.cookieKeys.persistent) await up.refreshCookieKeys();
    }
    expect(lines.join('\n')).not.toMatch(/[A-Za-z0-9_-]{43}/);
  });
});
