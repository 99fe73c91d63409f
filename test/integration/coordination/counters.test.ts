/**
 * Counters of the coordination (what the sign-in limits count with), in both implementations: in
 * memory (one process) and in a real redis-server (two RedisCoordination instances stand for two
 * replicas). The same contract runs against each; Redis gets its own tests for what only it has
 * (sharing between replicas, atomicity across them, a key that lost its expiry).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Coordination } from '../../../src/coordination/coordination.js';
import { LocalCoordination, MemoryCounters } from '../../../src/coordination/local-coordination.js';
import { RedisCoordination } from '../../../src/coordination/redis-coordination.js';
import { RegistryError } from '../../../src/oci/errors.js';
import { redisUrl } from '../../helpers/services.js';
import { startRedis } from '../../helpers/redis-server.js';

const opened: RedisCoordination[] = [];
const raw = new Redis(redisUrl(), { lazyConnect: true });
afterEach(async () => {
  await Promise.all(opened.splice(0).map((coordination) => coordination.close()));
});
afterAll(() => raw.disconnect());

const newPrefix = () => `test-${randomBytes(6).toString('hex')}`;

async function redisCoordination(keyPrefix = newPrefix()): Promise<RedisCoordination> {
  const coordination = await RedisCoordination.start({ url: redisUrl(), keyPrefix });
  opened.push(coordination);
  return coordination;
}

const implementations: Array<[string, () => Promise<Coordination>]> = [
  ['local', async () => new LocalCoordination()],
  ['redis', () => redisCoordination()],
];

describe.each(implementations)('%s counters', (_kind, open) => {
  it('count within a window that the first increment starts, and forget the count when it ends', async () => {
    const counters = (await open()).counters('sign-in');
    expect(await counters.read(['a'])).toEqual([{ count: 0, resetInMs: 0 }]);
    const first = await counters.increment('a', 300);
    expect(first.count).toBe(1);
    expect(first.resetInMs).toBeGreaterThan(200);
    expect(first.resetInMs).toBeLessThanOrEqual(300);
    await sleep(100);
    const second = await counters.increment('a', 300);
    // The window runs from the first increment: a later one does not push it back.
    expect(second.count).toBe(2);
    expect(second.resetInMs).toBeLessThanOrEqual(first.resetInMs - 50);
    const [read] = await counters.read(['a']);
    expect(read!.count).toBe(2);
    expect(read!.resetInMs).toBeGreaterThan(0);
    await sleep(second.resetInMs + 50);
    expect(await counters.read(['a'])).toEqual([{ count: 0, resetInMs: 0 }]);
    expect((await counters.increment('a', 300)).count).toBe(1);
  });

  it('read several counters at once, in order, absent ones as zero', async () => {
    const counters = (await open()).counters('sign-in');
    await counters.increment('x', 60_000);
    await counters.increment('y', 60_000);
    await counters.increment('y', 60_000);
    const values = await counters.read(['y', 'missing', 'x']);
    expect(values.map((value) => value.count)).toEqual([2, 0, 1]);
    expect(values[1]!.resetInMs).toBe(0);
    expect(values[0]!.resetInMs).toBeGreaterThan(59_000);
  });

  it('renew: restarts the window of a counter (a mark that stays while it is used)', async () => {
    const counters = (await open()).counters('sign-in');
    await counters.increment('mark', 200);
    await sleep(120);
    const renewed = await counters.increment('mark', 200, { renew: true });
    expect(renewed.count).toBe(2);
    expect(renewed.resetInMs).toBeGreaterThan(150);
    await sleep(120);
    expect((await counters.read(['mark']))[0]!.count).toBe(2);
  });

  it('keep names apart, and take any text as a key', async () => {
    const coordination = await open();
    const key = 'ci:bot\n10.0.0.1 * [x]';
    await coordination.counters('one').increment(key, 60_000);
    expect((await coordination.counters('one').read([key]))[0]!.count).toBe(1);
    expect((await coordination.counters('two').read([key]))[0]!.count).toBe(0);
  });

  it('count every one of 50 concurrent increments exactly once', async () => {
    const counters = (await open()).counters('sign-in');
    const results = await Promise.all(Array.from({ length: 50 }, () => counters.increment('hot', 60_000)));
    expect(results.map((result) => result.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, index) => index + 1));
    expect((await counters.read(['hot']))[0]!.count).toBe(50);
  });
});

describe('memory counters', () => {
  it('stay within their bound: the oldest go first when too many keys are live', async () => {
    const counters = new MemoryCounters(100);
    for (let index = 0; index < 250; index += 1) await counters.increment(`k${index}`, 60_000);
    expect(counters.size).toBeLessThanOrEqual(100);
    expect((await counters.read(['k249']))[0]!.count).toBe(1);
    expect((await counters.read(['k0']))[0]!.count).toBe(0);
  });
});

describe('redis counters', () => {
  it('are shared by the replicas, and atomic across them', async () => {
    const keyPrefix = newPrefix();
    const [a, b] = [await redisCoordination(keyPrefix), await redisCoordination(keyPrefix)];
    await Promise.all(Array.from({ length: 40 }, (_, index) => (index % 2 === 0 ? a : b).counters('sign-in').increment('shared', 60_000)));
    expect((await a.counters('sign-in').read(['shared']))[0]!.count).toBe(40);
    expect((await b.counters('sign-in').read(['shared']))[0]!.count).toBe(40);
  });

  it('live under <prefix>:counter:<name>:<key>, each with an expiry; a key that lost it gets one back', async () => {
    const keyPrefix = newPrefix();
    const coordination = await redisCoordination(keyPrefix);
    await coordination.counters('sign-in').increment('k', 60_000);
    await raw.connect().catch(() => undefined);
    const key = `${keyPrefix}:counter:sign-in:k`;
    expect(await raw.get(key)).toBe('1');
    expect(await raw.pttl(key)).toBeGreaterThan(59_000);
    // A counter must never live forever (a lockout for good): one without an expiry gets one.
    await raw.persist(key);
    expect(await raw.pttl(key)).toBe(-1);
    await coordination.counters('sign-in').increment('k', 60_000);
    expect(await raw.pttl(key)).toBeGreaterThan(59_000);
    // `counter` is not a records map name: the two could not be told apart.
    expect(() => coordination.records('counter')).toThrow(/invalid records map name/);
  });

  it('fail with UNAVAILABLE (not a hang) when Redis is gone', async () => {
    const server = await startRedis();
    try {
      const coordination = await RedisCoordination.start({ url: server.url, keyPrefix: newPrefix() });
      opened.push(coordination);
      await coordination.counters('sign-in').increment('k', 60_000);
      await server.kill();
      const started = performance.now();
      const error = await coordination
        .counters('sign-in')
        .read(['k'])
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(RegistryError);
      expect((error as RegistryError).key).toBe('UNAVAILABLE');
      expect(performance.now() - started).toBeLessThan(1_000);
    } finally {
      await server.stop();
    }
  });
});
