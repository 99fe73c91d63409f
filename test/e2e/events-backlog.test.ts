/**
 * A backlog of 100,000 pending events costs a running Berth no memory to speak of: two `berth serve`
 * processes with the same sink (down), one over a root whose outbox holds 100,000 undelivered events
 * (~40 MB in five full segments, written in the outbox's own format), one over an empty root. Their peak
 * RSS since start (VmHWM: opening the outbox, counting the backlog, retrying the first event for
 * seconds, answering /metrics) differ by a few MiB at most, and the full one reports the whole
 * backlog pending.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsOutbox } from '../../src/events/outbox.js';
import { OUTBOX_FOLDER } from '../../src/events/events.js';
import { sinkKey } from '../../src/events/sink.js';
import { killAllBerthProcesses, startBerthProcess, type BerthProcess } from '../helpers/berth-process.js';
import { startReceiver, type EventReceiver } from '../helpers/event-receiver.js';
import { TempDirs } from '../helpers/temp-dirs.js';

const dirs = new TempDirs();
const BACKLOG = 100_000;
let receiver: EventReceiver;
let full: BerthProcess;
let empty: BerthProcess;

/** The process's peak RSS since it started (VmHWM): opening the outbox at start is included. */
async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)![1]) * 1024;
}

async function pending(server: BerthProcess): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Number(/^berth_events_pending\{[^}]*\} (\d+)$/m.exec(text)?.[1] ?? NaN);
}

beforeAll(async () => {
  receiver = await startReceiver();
  await receiver.stop(); // the sink is down: everything stays pending
  const config = { extensions: { metrics: { enable: true }, events: { enable: true, sinks: [{ type: 'http', address: receiver.url, timeout: '1s' }] } } };
  const fullRoot = await dirs.make('events-backlog-full');
  const outbox = await FsOutbox.open(path.join(fullRoot, OUTBOX_FOLDER));
  // The sink's cursor first, so every record after it is pending for that sink.
  await outbox.reader(sinkKey({ type: 'http', address: receiver.url, timeoutMs: 1000, headers: {} }));
  const padding = 'x'.repeat(260);
  for (let batch = 0; batch < BACKLOG / 1000; batch++) {
    await outbox.append(Array.from({ length: 1000 }, (_, index) => ({ specversion: '1.0', id: `${batch}-${index}`, type: 'zotregistry.image.updated', source: 'zotregistry.dev', data: { padding } })));
  }
  await outbox.close();
  const segments = await outbox.segments();
  expect(segments.length).toBe(5);
  // The newest segment is full: reading it whole at start would cost 8 MiB and more.
  expect((await stat(path.join(outbox.folder, segments.at(-1)!))).size).toBeGreaterThan(7 * 1024 * 1024);
  [full, empty] = await Promise.all([startBerthProcess(fullRoot, config), startBerthProcess(await dirs.make('events-backlog-empty'), config)]);
}, 120_000);

afterAll(async () => {
  await killAllBerthProcesses();
  await dirs.removeAll();
});

describe('a backlog of 100,000 events', () => {
  it('is reported pending and costs a few MiB of RSS at most', async () => {
    const until = Date.now() + 5_000;
    while (Date.now() < until) {
      expect(await pending(full)).toBe(BACKLOG);
      expect(await pending(empty)).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const peaks = { full: await peakRss(full.pid), empty: await peakRss(empty.pid) };
    expect(peaks.full - peaks.empty, `RSS with the backlog ${peaks.full}, without ${peaks.empty}`).toBeLessThan(6 * 1024 * 1024);
  }, 60_000);
});
