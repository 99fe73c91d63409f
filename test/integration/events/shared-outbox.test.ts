/**
 * The events outbox of replicas, in the run's real Redis: two RedisCoordination instances under one
 * key prefix stand for two replicas. Records of both are numbered in one order, a sink's position is
 * one for all replicas and never moves back, one replica at a time delivers to a sink (the other
 * takes over when the holder dies), what every sink passed is trimmed, a backlog of 100,000
 * events is read through a page at a time, and the events module opens and closes while Redis is down.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { RedisCoordination } from '../../../src/coordination/redis-coordination.js';
import { SharedOutbox } from '../../../src/events/shared-outbox.js';
import { Events, UNOBSERVED } from '../../../src/events/events.js';
import { freePort } from '../../helpers/redis-server.js';
import type { OutboxReader } from '../../../src/events/outbox-api.js';
import { redisUrl } from '../../helpers/services.js';
import { redisCoordinations } from '../../helpers/redis-coordinations.js';
import { startReceiver } from '../../helpers/event-receiver.js';
import { eventually } from '../../helpers/eventually.js';

const { opened, raw } = redisCoordinations();

// A full collection on demand (as `node --expose-gc` gives), to measure what is kept, not garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function replica(keyPrefix: string, lockTtlMs?: number): Promise<{ coordination: RedisCoordination; outbox: SharedOutbox }> {
  const coordination = await RedisCoordination.start({ url: redisUrl(), keyPrefix, ...(lockTtlMs ? { lockTtlMs } : {}) });
  opened.push(coordination);
  return { coordination, outbox: new SharedOutbox(coordination.sharedLog('events'), coordination.locks) };
}

async function replicas(lockTtlMs?: number) {
  const keyPrefix = `test-${randomBytes(6).toString('hex')}`;
  return { keyPrefix, a: await replica(keyPrefix, lockTtlMs), b: await replica(keyPrefix, lockTtlMs) };
}

async function drain(reader: OutboxReader, limit = Number.POSITIVE_INFINITY): Promise<Array<{ seq: number; id: unknown }>> {
  const seen: Array<{ seq: number; id: unknown }> = [];
  for (let record = await reader.next(); record && seen.length < limit; record = await reader.next()) {
    seen.push({ seq: record.seq, id: record.event.id });
    await reader.commit(record);
  }
  await reader.save();
  return seen;
}

describe('SharedOutbox (Redis)', () => {
  it('numbers the records of two replicas in one order, each replica in the order of its calls', async () => {
    const { a, b } = await replicas();
    const reader = await a.outbox.reader('sink');
    await reader.resume();
    // Appends issued together, not awaited one by one: the order of the calls must hold anyway.
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).outbox.append([{ id: `${i % 2 === 0 ? 'a' : 'b'}${i}` }, { id: `${i % 2 === 0 ? 'a' : 'b'}${i}+` }])));
    const seen = await drain(reader);
    expect(seen.map((item) => item.seq)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
    for (const name of ['a', 'b']) {
      const mine = seen.map((item) => String(item.id)).filter((id) => id.startsWith(name));
      expect(mine).toEqual(
        Array.from({ length: 40 }, (_, i) => i)
          .filter((i) => (i % 2 === 0) === (name === 'a'))
          .flatMap((i) => [`${name}${i}`, `${name}${i}+`]),
      );
    }
    expect(await reader.pending()).toBe(0);
  });

  it('shares a sink position between replicas, starts a new sink after the newest record, and never moves a position back', async () => {
    const { a, b } = await replicas();
    await a.outbox.append([{ id: 'before any sink' }]);
    const onA = await a.outbox.reader('sink');
    await onA.resume();
    await b.outbox.append(Array.from({ length: 10 }, (_, i) => ({ id: `e${i}` })));
    expect((await drain(onA, 4)).map((item) => item.id)).toEqual(['e0', 'e1', 'e2', 'e3']);
    const onB = await b.outbox.reader('sink');
    await onB.resume();
    expect(await onB.pending()).toBe(6);
    expect((await onB.next())!.event.id).toBe('e4');
    // A slow replica saving an older position changes nothing.
    await b.coordination.sharedLog('events').advance('sink', 2);
    await onA.resume();
    expect((await onA.next())!.event.id).toBe('e4');
  });

  it('lets one replica at a time deliver to a sink, and another take over when the holder dies', async () => {
    const { a, b } = await replicas(1_000);
    let release!: () => void;
    const holding = a.outbox.exclusive('sink', () => new Promise<string>((resolve) => (release = () => resolve('a done'))));
    await sleep(50);
    expect(await b.outbox.exclusive('sink', async () => 'b ran')).toBeUndefined();
    expect(await b.outbox.exclusive('other sink', async () => 'b ran')).toBe('b ran');
    // A dies holding the sink: its lock is no longer renewed and expires.
    await a.coordination.close();
    opened.splice(opened.indexOf(a.coordination), 1);
    const until = Date.now() + 5_000;
    let took: string | undefined;
    while (took === undefined && Date.now() < until) {
      took = await b.outbox.exclusive('sink', async () => 'b took over');
      if (took === undefined) await sleep(100);
    }
    expect(took).toBe('b took over');
    release();
    await holding.catch(() => undefined);
  });

  it('stops delivering once its lock may have passed to another replica (renewals refused), and goes on once it holds it again', async () => {
    const { keyPrefix, a } = await replicas(900);
    const receiver = await startReceiver();
    try {
      const config = { sinks: [{ type: 'http' as const, address: receiver.url, timeoutMs: 2_000, headers: {} }], source: 'zotregistry.dev', typePrefix: 'zotregistry', deliveryMaxAgeMs: 3_600_000 };
      const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
      const events = await Events.open(config, { storageRoot: '/nonexistent', coordination: a.coordination }, UNOBSERVED, silent);
      events.start();
      // A sink seen for the first time starts after the newest event: wait for its position before the first.
      await eventually(async () => expect(await raw.hget(`${keyPrefix}:log:events:positions`, (await raw.hkeys(`${keyPrefix}:log:events:positions`))[0] ?? '-')).toBe('0'));
      const created = (name: string) => events.record([{ kind: 'repository-created', name }]);
      await created('team/first');
      await receiver.waitFor(1);
      // Another replica holds the sink's lock now (as after a split from Redis longer than the lock's life).
      const [lock] = await raw.keys(`${keyPrefix}:lock:events-sink:*`);
      expect(lock).toBeDefined();
      await raw.set(lock!, 'another-replica', 'PX', 60_000);
      await sleep(1_000);
      for (const name of ['team/a', 'team/b', 'team/c']) await created(name);
      await sleep(1_500);
      // Not delivered by a replica that no longer holds the lock (its turn had most of a minute left).
      expect(receiver.accepted).toHaveLength(1);
      await raw.del(lock!);
      const all = await receiver.waitFor(4, 20_000);
      expect(all.map((item) => (item.event.data as { name: string }).name)).toEqual(['team/first', 'team/a', 'team/b', 'team/c']);
      await events.close();
    } finally {
      await receiver.stop();
    }
  }, 40_000);

  it('trims what every sink has passed, as far as their saved positions say', async () => {
    const { keyPrefix, a } = await replicas();
    const x = await a.outbox.reader('x');
    const y = await a.outbox.reader('y');
    await Promise.all([x.resume(), y.resume()]);
    await a.outbox.append(Array.from({ length: 10 }, (_, i) => ({ id: i })));
    await drain(x);
    await drain(y, 4);
    await a.outbox.prune([x, y]);
    expect(await raw.xlen(`${keyPrefix}:log:events`)).toBe(6);
    await drain(y);
    await a.outbox.prune([x, y]);
    expect(await raw.xlen(`${keyPrefix}:log:events`)).toBe(0);
    // The numbering goes on after the stream was trimmed empty.
    await a.outbox.append([{ id: 'next' }]);
    expect(await drain(x)).toEqual([{ seq: 11, id: 'next' }]);
  });

  it('trims no further than a sink of another replica has got (a rolling config change), and forgets a sink nobody delivers to for a day', async () => {
    const { keyPrefix, a, b } = await replicas();
    // Replica a has sink x only; replica b (its config already changed) has x and y.
    const x = await a.outbox.reader('x');
    const y = await b.outbox.reader('y');
    await Promise.all([x.resume(), y.resume()]);
    await a.outbox.append(Array.from({ length: 10 }, (_, i) => ({ id: i })));
    await drain(x);
    await drain(y, 4);
    await a.outbox.prune([x]);
    // y still needs 5..10: a trimmed to x's position before, and y never got them.
    expect(await raw.xlen(`${keyPrefix}:log:events`)).toBe(6);
    expect((await drain(y)).map((item) => item.seq)).toEqual([5, 6, 7, 8, 9, 10]);
    await a.outbox.prune([x]);
    expect(await raw.xlen(`${keyPrefix}:log:events`)).toBe(0);
    // A sink removed from every replica's config: its position would hold the trimming back for good.
    await a.outbox.append([{ id: 'kept' }, { id: 'passed' }]);
    await raw.hset(`${keyPrefix}:log:events:positions`, 'removed', 10);
    await raw.hset(`${keyPrefix}:log:events:seen`, 'removed', Date.now() - 25 * 3_600_000);
    // A position saved before positions had times gets one now, and is kept.
    await raw.hset(`${keyPrefix}:log:events:positions`, 'older', 11);
    await drain(x);
    await a.outbox.prune([x]);
    expect(await raw.hkeys(`${keyPrefix}:log:events:positions`)).toEqual(expect.arrayContaining(['x', 'y', 'older']));
    expect(await raw.hexists(`${keyPrefix}:log:events:positions`, 'removed')).toBe(0);
    expect(await raw.hexists(`${keyPrefix}:log:events:seen`, 'older')).toBe(1);
    // y (at 10) is behind both new entries; 'older' (at 11) behind the second.
    expect(await raw.xlen(`${keyPrefix}:log:events`)).toBe(2);
    await drain(y);
    await a.outbox.prune([x]);
    expect(await raw.xlen(`${keyPrefix}:log:events`)).toBe(1);
  });

  it('reads a backlog of 100,000 events a page at a time, with little memory', async () => {
    const { keyPrefix, a } = await replicas();
    const reader = await a.outbox.reader('sink');
    await reader.resume();
    const padding = 'x'.repeat(200);
    for (let batch = 0; batch < 100; batch++) await a.outbox.append(Array.from({ length: 1000 }, (_item, index) => ({ id: `${batch}-${index}`, padding })));
    expect(await reader.pending()).toBe(100_000);
    // The first pages read before the baseline: what any first read costs once (code compiled on
    // first use, the client's parser buffers) is not what a backlog costs, and made the bound flaky.
    let count = 0;
    while (count < 1000) {
      const record = await reader.next();
      if (!record) break;
      count++;
      await reader.commit(record);
    }
    gc();
    const before = process.memoryUsage();
    let peak = { heap: before.heapUsed, rss: before.rss };
    for (let record = await reader.next(); record; record = await reader.next()) {
      count++;
      await reader.commit(record);
      if (count % 10_000 === 0) {
        gc();
        const now = process.memoryUsage();
        peak = { heap: Math.max(peak.heap, now.heapUsed), rss: Math.max(peak.rss, now.rss) };
        await a.outbox.prune([reader]);
      }
    }
    await reader.save();
    await a.outbox.prune([reader]);
    expect(count).toBe(100_000);
    // ~25 MiB of events in Redis; what reading them keeps is a page of 100 (the garbage of each
    // page is collected: measured after a collection, as a long-running process would see it).
    expect(peak.heap - before.heapUsed).toBeLessThan(4 * 1024 * 1024);
    expect(peak.rss - before.rss).toBeLessThan(16 * 1024 * 1024);
    expect(await raw.xlen(`${keyPrefix}:log:events`)).toBe(0);
  }, 120_000);

  it('closes at once when the loop meets Redis down just after the close (no backoff pause begins then)', async () => {
    const coordination = await RedisCoordination.start({ url: `redis://127.0.0.1:${await freePort()}`, keyPrefix: 'nobody-listens' });
    opened.push(coordination);
    const config = {
      sinks: [{ type: 'http' as const, address: 'http://127.0.0.1:9/hook', timeoutMs: 1000, headers: {} }],
      source: 'zotregistry.dev',
      typePrefix: 'zotregistry',
      deliveryMaxAgeMs: 60_000,
    };
    const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const events = await Events.open(config, { storageRoot: '/nonexistent', coordination }, UNOBSERVED, silent);
    // Set before the loop's 5 s backoff could be: timers of one length fire in the order they were set.
    let timer: NodeJS.Timeout | undefined;
    const backoffOver = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('a backoff pause was waited out'), 5_000)));
    events.start();
    // The loop's first attempt is on its way to Redis: it fails after the close, and then used to
    // begin a 5 s pause that the close's wake had already missed.
    const closed = events.close().then(() => 'closed');
    expect(await Promise.race([closed, backoffOver])).toBe('closed');
    clearTimeout(timer);
  });

  it('opens and closes while Redis is down (Berth starts without Redis), delivery waiting and saying why', async () => {
    const coordination = await RedisCoordination.start({ url: `redis://127.0.0.1:${await freePort()}`, keyPrefix: 'nobody-listens' });
    opened.push(coordination);
    const errors: string[] = [];
    const log = { info: () => undefined, warn: () => undefined, error: (_facts: object, message: string) => void errors.push(message) };
    const config = {
      sinks: [{ type: 'http' as const, address: 'http://127.0.0.1:9/hook', timeoutMs: 1000, headers: {} }],
      source: 'zotregistry.dev',
      typePrefix: 'zotregistry',
      deliveryMaxAgeMs: 60_000,
    };
    const events = await Events.open(config, { storageRoot: '/nonexistent', coordination }, UNOBSERVED, log);
    events.start();
    const until = Date.now() + 5_000;
    while (errors.length === 0 && Date.now() < until) await sleep(50);
    expect(errors[0]).toBe('events: cannot deliver from the outbox now; retrying');
    await events.close();
  });
});
