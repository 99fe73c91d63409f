/**
 * Events with two replicas: two `berth serve` processes, each with its own (empty) local root,
 * sharing a bucket of the test Ceph cluster and the run's Redis, so the outbox is the shared one in
 * Redis. One HTTP receiver (the CloudEvents SDK parses each request) is the sink of both.
 *
 * - pushes alternate between the replicas (skopeo and the registry API): each event reaches the sink
 *   once, not once per replica, and a repository's events come in the order of its pushes;
 * - the replica delivering to the sink (A, the first to start) is killed with SIGKILL while the sink is
 *   down and events wait; when the sink is back, B takes the sink over and delivers every event that
 *   was acknowledged, in order: none lost with the replica that was delivering.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllBerthProcesses, startBerthProcess, type BerthProcess } from '../helpers/berth-process.js';
import { startReceiver, type EventReceiver } from '../helpers/event-receiver.js';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { buildImage, writeOciLayout } from '../helpers/oci-layout.js';
import { pushImage } from '../helpers/registry-api.js';
import { createBucket, emptyAndDeleteBucket, redisUrl, s3Service } from '../helpers/services.js';
import { skopeo } from '../helpers/skopeo.js';
import { TempDirs } from '../helpers/temp-dirs.js';

const ROBOT = { authorization: basicAuth('buildbot', 'robot-secret') };
const dirs = new TempDirs();
let bucket: string;
let receiver: EventReceiver;
let a: BerthProcess;
let b: BerthProcess;
let config: Record<string, Record<string, unknown>>;
let env: Record<string, string>;

const hostOf = (url: string) => new URL(url).host;
const summary = (items: EventReceiver['accepted']) =>
  items.map((item) => `${item.event.type.replace('zotregistry.', '')} ${item.event.data.name}${item.event.data.reference ? `:${item.event.data.reference}` : ''}`);

beforeAll(async () => {
  const s3 = s3Service();
  bucket = await createBucket('berth-events');
  receiver = await startReceiver();
  config = {
    storage: {
      gc: false,
      storageDriver: { name: 's3', bucket, rootdirectory: '/registry', region: s3.region, regionendpoint: s3.endpoint },
      cacheDriver: { name: 'redis', url: redisUrl(), keyprefix: bucket },
    },
    http: {
      auth: { htpasswd: { path: await writeHtpasswd({ buildbot: 'robot-secret' }) } },
      accessControl: { repositories: { '**': { policies: [{ users: ['buildbot'], actions: ['read', 'create', 'update', 'delete'] }], anonymousPolicy: ['read'] } } },
    },
    extensions: { events: { enable: true, sinks: [{ type: 'http', address: receiver.url, timeout: '1s' }] } },
  };
  env = { AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey };
  // A first: it takes the sink, B waits its turn.
  a = await startBerthProcess(await dirs.make('events-replica-a'), config, { env });
  await new Promise((resolve) => setTimeout(resolve, 500));
  b = await startBerthProcess(await dirs.make('events-replica-b'), config, { env });
}, 120_000);

afterAll(async () => {
  await killAllBerthProcesses();
  await receiver?.stop();
  if (bucket) await emptyAndDeleteBucket(bucket);
  await dirs.removeAll();
});

describe('events across replicas', () => {
  it('deliver each event once, whichever replica took the push, in the order of the pushes', async () => {
    const image = await buildImage({ layers: 1, label: 'events-replicas' });
    const layout = await writeOciLayout(await dirs.make('events-replicas-src'), { app: image });
    await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', 'buildbot:robot-secret', layout.reference('app'), `docker://${hostOf(b.url)}/shared/app:v0`]);
    for (let i = 1; i <= 6; i++) await pushImage(i % 2 === 0 ? a.url : b.url, 'shared/app', `v${i}`, { headers: ROBOT });
    const deleted = await fetch(`${a.url}/v2/shared/app/manifests/v3`, { method: 'DELETE', headers: ROBOT });
    expect(deleted.status).toBe(202);
    const expected = ['repository.created shared/app', ...Array.from({ length: 7 }, (_, i) => `image.updated shared/app:v${i}`), 'image.deleted shared/app:v3'];
    await receiver.waitFor(expected.length, 30_000);
    // Time for a second copy to arrive, if a replica were delivering on its own.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(summary(receiver.accepted)).toEqual(expected);
    expect(new Set(receiver.accepted.map((item) => item.event.id)).size).toBe(expected.length);
    expect(receiver.accepted[1]!.event.data.digest).toBe(image.manifest.digest);
  }, 60_000);

  it('lose nothing when the replica delivering is killed: the other takes the sink over', async () => {
    const before = receiver.accepted.length;
    await receiver.stop();
    const pushed: string[] = [];
    for (let i = 0; i < 4; i++) {
      const through = i % 2 === 0 ? b : a;
      pushed.push((await pushImage(through.url, 'shared/outage', `o${i}`, { headers: ROBOT })).digest);
    }
    expect((await fetch(`${b.url}/readyz`)).status).toBe(200);
    // A has been delivering (and failing) since it started first; it dies with events waiting.
    await a.kill9();
    receiver.mode = { kind: 'accept' };
    await receiver.start();
    // B takes over once A's lock on the sink expires (10 s without renewal).
    const events = (await receiver.waitFor(before + 5, 60_000)).slice(before);
    expect(summary(events)).toEqual([
      'repository.created shared/outage',
      'image.updated shared/outage:o0',
      'image.updated shared/outage:o1',
      'image.updated shared/outage:o2',
      'image.updated shared/outage:o3',
    ]);
    expect(events.slice(1).map((item) => item.event.data.digest)).toEqual(pushed);
    // Pushes through B go on being delivered, by B now.
    const after = await pushImage(b.url, 'shared/outage', 'o4', { headers: ROBOT });
    const last = (await receiver.waitFor(before + 6, 30_000)).at(-1)!;
    expect(last.event.data).toMatchObject({ reference: 'o4', digest: after.digest });
  }, 120_000);
});
