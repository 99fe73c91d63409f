/**
 * Sign-in limits over HTTP: every client behind one address (a proxy without TRUST_PROXY, a NAT,
 * a CI host) must not be locked out by one robot with a stale password, and spraying names from one
 * address must still be stopped. Addresses are told apart through a trusted X-Forwarded-For. The
 * replica tests share the counters through a redis-server of their own, and take it away.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { errorCode } from '../helpers/registry-api.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { scratchDir } from '../helpers/scratch.js';
import { postPasswordForm, UI_HEADER } from '../helpers/ui-session.js';

const servers: TestServer[] = [];
let redis: RedisServer | undefined;
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
  await redis?.stop();
  redis = undefined;
});

const USERS = { ci: 'ci-pw', alice: 'alice-pw', bob: 'bob-pw', prom: 'scrape' };

async function start(extra: { sessionDriver?: Record<string, string>; audit?: string } = {}): Promise<TestServer> {
  const htpasswd = await writeHtpasswd(USERS);
  const server = await startBerth({
    trustProxy: ['127.0.0.1'],
    config: {
      extensions: { ui: { enable: true }, metrics: { enable: true } },
      ...(extra.audit ? { log: { audit: extra.audit } } : {}),
      http: {
        auth: { htpasswd: { path: htpasswd }, ...(extra.sessionDriver ? { sessionDriver: extra.sessionDriver } : {}) },
        accessControl: { repositories: { '**': { anonymousPolicy: [], defaultPolicy: ['read', 'create'] } }, metrics: { users: ['prom'] } },
      },
    },
  });
  servers.push(server);
  return server;
}

/** GET /v2/ with Basic from an address. */
const check = (server: TestServer, from: string, user: string, password: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/v2/`, { headers: { 'x-forwarded-for': from, authorization: basicAuth(user, password), ...headers } });

async function blockedCount(server: TestServer, scope: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`, { headers: { authorization: basicAuth('prom', 'scrape'), 'x-forwarded-for': '192.0.2.250' } })).text();
  const line = text.split('\n').find((entry) => entry.startsWith(`berth_sign_in_blocked_total{scope="${scope}"}`));
  return Number(line?.split(' ')[1]);
}

describe('sign-in limits', () => {
  it('one robot with a stale password blocks its own account from its address, and nobody else', async () => {
    const dir = await scratchDir('limits');
    const audit = path.join(dir, 'audit.log');
    const server = await start({ audit });
    const nat = '203.0.113.5';
    // The same account's failures count together, from the password form and from Basic.
    for (let index = 0; index < 3; index += 1) expect((await postPasswordForm(server.url, 'ci', `stale-${index}`, { 'x-forwarded-for': nat })).status).toBe(401);
    const statuses: number[] = [];
    for (let index = 0; index < 9; index += 1) statuses.push((await check(server, nat, 'ci', `stale-${index}`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 401, 429, 429]);

    // Blocked: the right password is not even checked, on any route, until the window ends.
    const blocked = await check(server, nat, 'ci', USERS.ci);
    expect(blocked.status).toBe(429);
    expect(await errorCode(blocked)).toBe('TOOMANYREQUESTS');
    const retryAfter = Number(blocked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(800);
    expect(retryAfter).toBeLessThanOrEqual(900);
    expect((await fetch(`${server.url}/v2/app/blobs/uploads/`, { method: 'POST', headers: { 'x-forwarded-for': nat, authorization: basicAuth('ci', USERS.ci) } })).status).toBe(429);
    const form = await postPasswordForm(server.url, 'ci', USERS.ci, { 'x-forwarded-for': nat });
    expect(form.status).toBe(429);
    expect(await form.text()).toContain('Too many failed sign-ins from here');

    // Everyone else behind the same address is served: Basic, the UI's sign-in, the form.
    expect((await check(server, nat, 'alice', USERS.alice)).status).toBe(200);
    expect((await fetch(`${server.url}/v2/app/blobs/uploads/`, { method: 'POST', headers: { 'x-forwarded-for': nat, authorization: basicAuth('bob', USERS.bob) } })).status).toBe(202);
    const uiSignIn = await check(server, nat, 'bob', USERS.bob, UI_HEADER);
    expect(uiSignIn.status).toBe(200);
    expect(uiSignIn.headers.getSetCookie().some((cookie) => cookie.startsWith('session='))).toBe(true);
    expect((await postPasswordForm(server.url, 'alice', USERS.alice, { 'x-forwarded-for': nat })).status).toBe(303);
    // And the robot's account from anywhere else.
    expect((await check(server, '198.51.100.20', 'ci', USERS.ci)).status).toBe(200);

    expect(await blockedCount(server, 'account')).toBe(5);
    expect(await blockedCount(server, 'address')).toBe(0);
    await server.close();
    servers.length = 0;
    const lines = (await readFile(audit, 'utf8')).trim().split('\n');
    const blockedLines = lines.map((line) => JSON.parse(line)).filter((line) => line.outcome === 'blocked');
    expect(blockedLines).toHaveLength(5);
    expect(blockedLines[0]).toMatchObject({ event: 'authenticate', attemptedUser: 'ci', user: null, ip: nat, status: 429 });
    expect(blockedLines.map((line) => line.event).sort()).toEqual(['authenticate', 'authenticate', 'authenticate', 'blob-upload-start', 'sign-in']);
    expect(lines.join('\n')).not.toContain(USERS.ci);
  });

  it('stops spraying names from one address, while accounts that signed in from it before keep working', async () => {
    const server = await start();
    const sprayer = '203.0.113.66';
    expect((await check(server, sprayer, 'alice', USERS.alice)).status).toBe(200);
    // 10 names, 5 guesses each: none is slowed or blocked on its own; together they reach 50.
    for (let name = 0; name < 10; name += 1) {
      for (let guess = 0; guess < 5; guess += 1) expect((await check(server, sprayer, `user${name}`, `guess${guess}`)).status).toBe(401);
    }
    const next = await check(server, sprayer, 'user99', 'guess');
    expect(next.status).toBe(429);
    expect(Number(next.headers.get('retry-after'))).toBeGreaterThan(0);
    // bob never signed in from there: refused unchecked, like any sprayed name.
    expect((await check(server, sprayer, 'bob', USERS.bob)).status).toBe(429);
    // alice did: still served, by Basic and by the form.
    expect((await check(server, sprayer, 'alice', USERS.alice)).status).toBe(200);
    expect((await postPasswordForm(server.url, 'alice', USERS.alice, { 'x-forwarded-for': sprayer })).status).toBe(303);
    // Other addresses are not affected.
    expect((await check(server, '198.51.100.21', 'bob', USERS.bob)).status).toBe(200);
    expect(await blockedCount(server, 'address')).toBe(2);
  });

  it('replicas share the counts through Redis; without Redis each replica counts alone and nobody is locked out', async () => {
    redis = await startRedis();
    const sessionDriver = { name: 'redis', url: redis.url, keyprefix: 'limits' };
    const [a, b] = [await start({ sessionDriver }), await start({ sessionDriver })];
    const nat = '203.0.113.9';
    for (let index = 0; index < 10; index += 1) expect((await check(index % 2 === 0 ? a : b, nat, 'ci', `stale-${index}`)).status).toBe(401);
    expect((await check(a, nat, 'ci', USERS.ci)).status).toBe(429);
    expect((await check(b, nat, 'ci', USERS.ci)).status).toBe(429);
    expect((await check(b, nat, 'alice', USERS.alice)).status).toBe(200);

    await redis.kill();
    // Valid credentials are served at once (no 503, no 429, no wait on Redis).
    const started = performance.now();
    expect((await check(b, nat, 'alice', USERS.alice)).status).toBe(200);
    expect((await check(a, nat, 'bob', USERS.bob)).status).toBe(200);
    expect(performance.now() - started).toBeLessThan(2_000);
    // Guessing is still limited, by each replica on its own.
    for (let index = 0; index < 10; index += 1) expect((await check(b, nat, 'bob', `guess-${index}`)).status).toBe(401);
    expect((await check(b, nat, 'bob', USERS.bob)).status).toBe(429);
    expect((await check(a, nat, 'bob', USERS.bob)).status).toBe(200);
  });
});
