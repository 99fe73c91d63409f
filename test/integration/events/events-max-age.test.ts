/**
 * The events module giving up on an event older than `deliveryMaxAge`, with its outbox on disk and
 * the tests' HTTP receiver failing. The config refuses a `deliveryMaxAge` below 1 minute, so the
 * module is opened here directly with 2 s (the HTTP suite would wait over a minute for it).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalCoordination } from '../../../src/coordination/local-coordination.js';
import { Events, type EventsObserver } from '../../../src/events/events.js';
import { eventually } from '../../helpers/eventually.js';
import { startReceiver } from '../../helpers/event-receiver.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('events older than deliveryMaxAge', () => {
  it('are dropped while the sink fails (counted, logged); later events still arrive', async () => {
    const receiver = await startReceiver();
    const root = await mkdtemp(path.join(tmpdir(), 'berth-events-max-age-'));
    const counts = { delivered: 0, failed: 0, dropped: 0 };
    const observer: EventsObserver = { delivered: () => void counts.delivered++, failed: () => void counts.failed++, dropped: () => void counts.dropped++ };
    const logged: string[] = [];
    const log = { info: () => undefined, warn: () => undefined, error: (_facts: object, message: string) => void logged.push(message) };
    const config = { sinks: [{ type: 'http' as const, address: receiver.url, timeoutMs: 1_000, headers: {} }], source: 'zotregistry.dev', typePrefix: 'zotregistry', deliveryMaxAgeMs: 2_000 };
    const events = await Events.open(config, { storageRoot: root, coordination: new LocalCoordination() }, observer, log);
    cleanups.push(async () => {
      await events.close();
      await receiver.stop();
      await rm(root, { recursive: true, force: true });
    });
    events.start();
    receiver.mode = { kind: 'fail', status: 503 };
    await events.record([{ kind: 'repository-created', name: 'drop/old', actor: { username: 'buildbot', method: 'basic' } }]);
    await eventually(async () => expect(counts.dropped).toBe(1), 15_000);
    expect(counts.failed).toBeGreaterThan(0);
    expect(logged).toContain('events: dropped, older than deliveryMaxAge');
    receiver.mode = { kind: 'accept' };
    await events.record([{ kind: 'repository-created', name: 'drop/new', actor: { username: 'buildbot', method: 'basic' } }]);
    const received = await receiver.waitFor(1);
    expect(received.map((item) => (item.event.data as { name: string }).name)).toEqual(['drop/new']);
    expect(await events.pending()).toEqual([{ sink: expect.any(String), pending: 0 }]);
  }, 30_000);
});
