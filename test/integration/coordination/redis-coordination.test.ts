/**
 * RedisCoordination against a real redis-server: two instances stand for two replicas. The run's
 * Redis (test/setup/services.ts) serves most tests, each under its own key prefix; the outage tests
 * start and kill their own.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RedisCoordination, type CoordinationLog } from '../../../src/coordination/redis-coordination.js';
import { RegistryError } from '../../../src/oci/errors.js';
import { redisUrl } from '../../helpers/services.js';
import { startRedis, type RedisServer } from '../../helpers/redis-server.js';

const opened: RedisCoordination[] = [];
const raw = new Redis(redisUrl(), { lazyConnect: true });
afterEach(async () => {
  await Promise.all(opened.splice(0).map((coordination) => coordination.close()));
});
afterAll(() => raw.disconnect());

const newPrefix = () => `test-${randomBytes(6).toString('hex')}`;

/** Two replicas of one registry: the same Redis and prefix. */
async function replicas(options: { lockTtlMs?: number } = {}) {
  const keyPrefix = newPrefix();
  const make = async () => {
    const coordination = await RedisCoordination.start({ url: redisUrl(), keyPrefix, ...options });
    opened.push(coordination);
    return coordination;
  };
  return { keyPrefix, a: await make(), b: await make() };
}

const isUnavailable = (error: unknown) => error instanceof RegistryError && error.key === 'UNAVAILABLE' && error.status === 503;

describe('RedisCoordination locks', () => {
  it('serialize a read-modify-write across two replicas: 20 contenders, exact count, never two inside', async () => {
    const { a, b } = await replicas();
    let counter = 0;
    let inside = 0;
    let most = 0;
    const increment = () => async () => {
      inside += 1;
      most = Math.max(most, inside);
      const read = counter;
      await sleep(2 + Math.random() * 5);
      counter = read + 1;
      inside -= 1;
    };
    await Promise.all(Array.from({ length: 20 }, (_, index) => (index % 2 === 0 ? a : b).locks.run('repo:library/alpine', increment())));
    expect(counter).toBe(20);
    expect(most).toBe(1);
  });

  it('let another replica in while one replica keeps asking (no starvation)', async () => {
    const { a, b } = await replicas();
    let stop = false;
    // Replica A: three request streams back to back, each holding the lock 20 ms.
    const busy = Array.from({ length: 3 }, async () => {
      while (!stop) await a.locks.run('hot', () => sleep(20));
    });
    await sleep(50);
    const waited = Promise.all(
      Array.from({ length: 5 }, async () => {
        const started = performance.now();
        await b.locks.run('hot', () => sleep(5));
        return performance.now() - started;
      }),
    );
    const times = await waited;
    stop = true;
    await Promise.all(busy);
    // Each of B's five requests is let in within a few of A's turns, not after A stops.
    expect(Math.max(...times)).toBeLessThan(2_000);
  });

  it('give the lock to others once a dead holder’s lease expires', async () => {
    const { keyPrefix, a } = await replicas();
    // A replica that died holding the lock: its key stays until its expiry.
    await raw.set(`${keyPrefix}:lock:repo:x`, 'dead-replica', 'PX', 300);
    const started = performance.now();
    expect(await a.locks.tryRun('repo:x', async () => 'ran')).toBeUndefined();
    expect(await a.locks.run('repo:x', async () => 'ran')).toBe('ran');
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    expect(await raw.exists(`${keyPrefix}:lock:repo:x`)).toBe(0);
  });

  it('renew the lease while the work runs, so a long holder keeps it', async () => {
    const { keyPrefix, a, b } = await replicas({ lockTtlMs: 600 });
    const long = a.locks.run('gc', async () => {
      await sleep(2_000);
      return 'done';
    });
    await sleep(50);
    // Well past the ttl, the lock is still A's.
    for (let round = 0; round < 5; round += 1) {
      expect(await b.locks.tryRun('gc', async () => 'stolen')).toBeUndefined();
      await sleep(350);
    }
    expect(await long).toBe('done');
    expect(await raw.exists(`${keyPrefix}:lock:gc`)).toBe(0);
  });

  it('fail the operation with UNAVAILABLE when the lock was lost while the work ran, after the work', async () => {
    const errors: string[] = [];
    const log: CoordinationLog = { info() {}, error: (message) => errors.push(message) };
    const keyPrefix = newPrefix();
    const a = await RedisCoordination.start({ url: redisUrl(), keyPrefix, lockTtlMs: 300, log });
    opened.push(a);
    let finished = false;
    const run = a.locks.run('repo:y', async () => {
      // Redis forgets the lock (a restart without persistence).
      await raw.del(`${keyPrefix}:lock:repo:y`);
      await sleep(150);
      finished = true;
      return 'ok';
    });
    const error = await run.catch((caught: unknown) => caught);
    expect(finished).toBe(true);
    expect(isUnavailable(error)).toBe(true);
    expect(errors.some((message) => message.includes('repo:y'))).toBe(true);
    // The work's own error wins over the loss.
    const failing = a.locks.run('repo:z', async () => {
      await raw.del(`${keyPrefix}:lock:repo:z`);
      throw new Error('work failed');
    });
    await expect(failing).rejects.toThrow('work failed');
  });

  it('never delete a lock that has passed to someone else', async () => {
    const { keyPrefix, a } = await replicas({ lockTtlMs: 300 });
    const run = a.locks.run('repo:w', async () => {
      // Our lease is gone and another replica holds the lock now.
      await raw.set(`${keyPrefix}:lock:repo:w`, 'other-replica', 'PX', 5_000);
      return 'ok';
    });
    await expect(run).rejects.toSatisfy(isUnavailable);
    expect(await raw.get(`${keyPrefix}:lock:repo:w`)).toBe('other-replica');
  });

  it('tryRun: runs when free, undefined while another replica or this one holds the lock', async () => {
    const { a, b } = await replicas();
    expect(await a.locks.tryRun('maintenance:gc', async () => 1)).toBe(1);
    let release!: () => void;
    const holding = b.locks.run('maintenance:gc', () => new Promise<void>((resolve) => (release = resolve)));
    await sleep(50);
    expect(await a.locks.tryRun('maintenance:gc', async () => 2)).toBeUndefined();
    expect(await b.locks.tryRun('maintenance:gc', async () => 3)).toBeUndefined();
    release();
    await holding;
    expect(await a.locks.tryRun('maintenance:gc', async () => 4)).toBe(4);
  });
});

describe('RedisCoordination records', () => {
  it('get, set, take and entries are shared by the replicas', async () => {
    const { keyPrefix, a, b } = await replicas();
    const onA = a.records<{ n: number }>('s3-uploads');
    const onB = b.records<{ n: number }>('s3-uploads');
    expect(await onB.get('u1')).toBeUndefined();
    await onA.set('u1', { n: 1 });
    await onA.set('u2', { n: 2 });
    expect(await onB.get('u1')).toEqual({ n: 1 });
    await onB.set('u1', { n: 11 });
    expect(await onA.get('u1')).toEqual({ n: 11 });
    expect((await onB.entries()).sort()).toEqual([
      ['u1', { n: 11 }],
      ['u2', { n: 2 }],
    ]);
    expect(await onA.take('u1')).toEqual({ n: 11 });
    expect(await onB.take('u1')).toBeUndefined();
    expect(await onB.get('u1')).toBeUndefined();
    // Records without expiry are one hash: one HGET per read.
    expect(await raw.type(`${keyPrefix}:s3-uploads`)).toBe('hash');
    // Other maps are apart.
    expect(await a.records('sessions').get('u2')).toBeUndefined();
  });

  it('expire records written with a ttl, everywhere; entries list both kinds', async () => {
    const { keyPrefix, a, b } = await replicas();
    const onA = a.records<string>('sessions');
    const onB = b.records<string>('sessions');
    await onA.set('short', 'x', { ttlMs: 150 });
    await onA.set('long', 'y', { ttlMs: 60_000 });
    await onA.set('forever', 'z');
    expect(await raw.pttl(`${keyPrefix}:sessions:short`)).toBeGreaterThan(0);
    expect(await onB.get('short')).toBe('x');
    expect((await onB.entries()).sort()).toEqual([
      ['forever', 'z'],
      ['long', 'y'],
      ['short', 'x'],
    ]);
    await sleep(250);
    expect(await onB.get('short')).toBeUndefined();
    expect(await onA.take('short')).toBeUndefined();
    expect((await onB.entries()).sort()).toEqual([
      ['forever', 'z'],
      ['long', 'y'],
    ]);
    // Rewriting a record moves it between the two kinds; it is never in both.
    await onA.set('forever', 'z2', { ttlMs: 60_000 });
    expect(await raw.hexists(`${keyPrefix}:sessions`, 'forever')).toBe(0);
    await onA.set('long', 'y2');
    expect(await raw.exists(`${keyPrefix}:sessions:long`)).toBe(0);
    expect((await onB.entries()).sort()).toEqual([
      ['forever', 'z2'],
      ['long', 'y2'],
    ]);
    expect(await onB.take('forever')).toBe('z2');
    expect(await onB.entries()).toEqual([['long', 'y2']]);
  });

  it('take is atomic: of 20 takers on two replicas, exactly one gets the record', async () => {
    const { a, b } = await replicas();
    for (const ttlMs of [undefined, 60_000]) {
      await a.records<string>('used-logins').set('state', 'once', ttlMs === undefined ? {} : { ttlMs });
      const taken = await Promise.all(Array.from({ length: 20 }, (_, index) => (index % 2 ? a : b).records<string>('used-logins').take('state')));
      expect(taken.filter((value) => value === 'once')).toHaveLength(1);
    }
  });

  it('keys are the caller’s own: any text, kept apart from other maps and from the locks', async () => {
    const { a } = await replicas();
    const records = a.records<number>('users');
    for (const [index, key] of ['a:b', '*', '__proto__', 'x y', 'ü'].entries()) await records.set(key, index);
    expect(Object.fromEntries(await records.entries())).toEqual({ 'a:b': 0, '*': 1, ['__proto__']: 2, 'x y': 3, ü: 4 });
    expect(() => a.records('lock')).toThrow(/invalid/);
    expect(() => a.records('Users')).toThrow(/invalid/);
  });
});

describe('RedisCoordination when Redis goes away', () => {
  let server: RedisServer | undefined;
  afterEach(async () => server?.stop());

  it('answers UNAVAILABLE within a second, then recovers when Redis is back; the password never shows', async () => {
    server = await startRedis();
    const messages: string[] = [];
    const log: CoordinationLog = { info: (message) => messages.push(message), error: (message) => messages.push(message) };
    // A password the server does not require would fail AUTH: take the URL without it for the server
    // and check the masking on a second, unreachable URL below.
    const coordination = await RedisCoordination.start({ url: server.url, keyPrefix: newPrefix(), log });
    opened.push(coordination);
    await coordination.check();
    await coordination.records('users').set('alice', { groups: [] });

    await server.kill();
    const failures = [
      () => coordination.check(),
      () => coordination.records('users').get('alice'),
      () => coordination.records('users').set('bob', {}),
      () => coordination.records('users').entries(),
      () => coordination.locks.run('repo:a', async () => 'never'),
      () => coordination.locks.tryRun('repo:a', async () => 'never'),
    ];
    for (const attempt of failures) {
      const started = performance.now();
      const error = await attempt().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isUnavailable(error), String(error)).toBe(true);
      expect(performance.now() - started).toBeLessThan(1_000);
      // The client is told what is away, in Berth's words: no host, port or driver message.
      expect((error as RegistryError).toBody()).toEqual({ errors: [{ code: 'UNAVAILABLE', message: 'service unavailable', detail: 'Redis is unreachable: no connection' }] });
    }

    await server.restart();
    const deadline = performance.now() + 5_000;
    while (
      !(await coordination.check().then(
        () => true,
        () => false,
      ))
    ) {
      expect(performance.now()).toBeLessThan(deadline);
      await sleep(100);
    }
    expect(await coordination.locks.run('repo:a', async () => 'ran')).toBe('ran');
    expect(await coordination.records('users').get('alice')).toBeUndefined(); // a restarted Redis without persistence
    expect(messages.some((message) => /reachable again/.test(message))).toBe(true);
  });

  it('a lock in flight when Redis dies fails the request instead of hanging', async () => {
    server = await startRedis();
    const coordination = await RedisCoordination.start({ url: server.url, keyPrefix: newPrefix(), lockTtlMs: 300 });
    opened.push(coordination);
    const run = coordination.locks.run('repo:b', async () => {
      await server!.kill();
      await sleep(500);
      return 'ok';
    });
    await expect(run).rejects.toSatisfy(isUnavailable);
  });

  it('starts while Redis is down (logging why, without the password) and connects once it is up', async () => {
    server = await startRedis();
    await server.kill();
    const messages: string[] = [];
    const log: CoordinationLog = { info: (message) => messages.push(message), error: (message) => messages.push(message) };
    const url = server.url.replace('redis://', 'redis://berth:s3cret-pa55@');
    const coordination = await RedisCoordination.start({ url, keyPrefix: newPrefix(), log });
    opened.push(coordination);
    expect(coordination.connected).toBe(false);
    const error = await coordination.check().catch((caught: unknown) => caught);
    expect(isUnavailable(error)).toBe(true);
    expect(messages.join('\n')).toMatch(/unreachable/);
    expect(messages.join('\n')).toContain('redis://berth:***@127.0.0.1');
    expect(`${messages.join('\n')}\n${(error as Error).message}`).not.toContain('s3cret-pa55');
  });
});
