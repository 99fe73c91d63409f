/**
 * The events module shut down while a delivery is in flight, with its outbox on disk and the tests'
 * HTTP receiver: the attempt cut off by the shutdown is no failure (nothing counted, nothing
 * logged), the close does not wait out a backoff, and the event is delivered after a restart.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalCoordination } from '../../../src/coordination/local-coordination.js';
import { Events, type EventsObserver } from '../../../src/events/events.js';
import { eventually } from '../../helpers/eventually.js';
import { startReceiver, type EventReceiver } from '../../helpers/event-receiver.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

function counting() {
  const counts = { delivered: 0, failed: 0, dropped: 0 };
  const observer: EventsObserver = { delivered: () => void counts.delivered++, failed: () => void counts.failed++, dropped: () => void counts.dropped++ };
  const logged: string[] = [];
  const log = { info: () => undefined, warn: (_facts: object, message: string) => void logged.push(message), error: (_facts: object, message: string) => void logged.push(message) };
  return { counts, observer, logged, log };
}

async function setUp(): Promise<{ receiver: EventReceiver; root: string; config: Parameters<typeof Events.open>[0] }> {
  const receiver = await startReceiver();
  const root = await mkdtemp(path.join(tmpdir(), 'berth-events-shutdown-'));
  cleanups.push(async () => {
    await receiver.stop();
    await rm(root, { recursive: true, force: true });
  });
  const config = {
    sinks: [{ type: 'http' as const, address: receiver.url, timeoutMs: 60_000, headers: {} }],
    source: 'zotregistry.dev',
    typePrefix: 'zotregistry',
    deliveryMaxAgeMs: 3_600_000,
  };
  return { receiver, root, config };
}

describe('events at shutdown', () => {
  it('cuts a delivery in flight without counting or logging a failure, closes at once, and delivers the event after the restart', async () => {
    const { receiver, root, config } = await setUp();
    receiver.mode = { kind: 'hang' };
    const first = counting();
    const events = await Events.open(config, { storageRoot: root, coordination: new LocalCoordination() }, first.observer, first.log);
    events.start();
    await events.record([{ kind: 'repository-created', name: 'team/app', actor: { username: 'buildbot', method: 'basic' } }]);
    const until = Date.now() + 10_000;
    while (receiver.attempts === 0 && Date.now() < until) await sleep(10);
    // The receiver has the request and never answers: the send is in flight.
    expect(receiver.attempts).toBe(1);
    const closing = Date.now();
    await events.close();
    expect(Date.now() - closing).toBeLessThan(2_000);
    expect(first.counts).toEqual({ delivered: 0, failed: 0, dropped: 0 });
    expect(first.logged).toEqual([]);

    receiver.mode = { kind: 'accept' };
    const second = counting();
    const restarted = await Events.open(config, { storageRoot: root, coordination: new LocalCoordination() }, second.observer, second.log);
    restarted.start();
    const [received] = await receiver.waitFor(1);
    expect(received!.event.type).toBe('zotregistry.repository.created');
    expect(received!.event.data).toMatchObject({ name: 'team/app' });
    await eventually(async () => expect(second.counts).toEqual({ delivered: 1, failed: 0, dropped: 0 }));
    await restarted.close();
  });
});
