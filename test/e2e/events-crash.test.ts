/**
 * At least once across a crash, with a real `berth serve` process and skopeo: pushes are answered
 * while the sink is down, Berth is killed with SIGKILL (no shutdown code runs), the sink comes back,
 * Berth starts again over the same root, and every event arrives, in order, with the id it was
 * given before the crash. A second round kills Berth right after a push while the sink is up: the
 * events may arrive twice, never zero times, and a duplicate carries the same id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllBerthProcesses, startBerthProcess } from '../helpers/berth-process.js';
import { startReceiver, type EventReceiver } from '../helpers/event-receiver.js';
import { buildImage, writeOciLayout, type Image, type WrittenLayout } from '../helpers/oci-layout.js';
import { pushImage } from '../helpers/registry-api.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { TempDirs } from '../helpers/temp-dirs.js';

const dirs = new TempDirs();
let receiver: EventReceiver;
let image: Image;
let source: WrittenLayout;

beforeAll(async () => {
  receiver = await startReceiver();
  image = await buildImage({ layers: 2, label: 'events-crash' });
  source = await writeOciLayout(await dirs.make('events-crash-source'), { image });
});

afterAll(async () => {
  await killAllBerthProcesses();
  await receiver?.stop();
  await dirs.removeAll();
});

const eventsConfig = () => ({ extensions: { events: { enable: true, sinks: [{ type: 'http', address: receiver.url, timeout: '1s' }] } } });

describe('events across kill -9', () => {
  it('deliver what was pushed while the sink was down, after a crash and a restart', async () => {
    await receiver.stop();
    const root = await dirs.make('events-crash-root');
    const first = await startBerthProcess(root, eventsConfig());
    const host = first.url.replace('http://', '');
    await skopeoCopy(source.reference('image'), `docker://${host}/crash/app:v1`);
    const second = await pushImage(first.url, 'crash/app', 'v2');
    await first.kill9();

    receiver.mode = { kind: 'accept' };
    await receiver.start();
    const restarted = await startBerthProcess(root, eventsConfig());
    const events = await receiver.waitFor(3, 30_000);
    expect(events.map((item) => [item.event.type, item.event.data.reference ?? null, item.event.data.digest ?? null])).toEqual([
      ['zotregistry.repository.created', null, null],
      ['zotregistry.image.updated', 'v1', image.manifest.digest],
      ['zotregistry.image.updated', 'v2', second.digest],
    ]);
    await restarted.stop();
  }, 120_000);

  it('deliver again rather than lose when killed between the push and the delivery', async () => {
    const root = await dirs.make('events-crash-root-2');
    receiver.accepted.length = 0;
    const first = await startBerthProcess(root, eventsConfig());
    const pushed = await pushImage(first.url, 'crash/again', 'v1');
    await first.kill9();
    const seenBefore = receiver.accepted.map((item) => item.event.id);
    const restarted = await startBerthProcess(root, eventsConfig());
    await receiver.waitFor(2, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const updated = receiver.accepted.filter((item) => item.event.type === 'zotregistry.image.updated');
    expect(updated.length).toBeGreaterThanOrEqual(1);
    expect(new Set(updated.map((item) => item.event.id)).size).toBe(1);
    expect(updated[0]!.event.data.digest).toBe(pushed.digest);
    // Anything seen before the crash came again with the same id, or not at all.
    for (const id of seenBefore) expect(receiver.accepted.filter((item) => item.event.id === id).length).toBeGreaterThanOrEqual(1);
    await restarted.stop();
  }, 120_000);
});
