/**
 * Events from a push by docker: a private Docker daemon (helpers/docker.ts) loads an image skopeo
 * wrote as a docker-archive, logs in to Berth as a robot and pushes it; the sink (its requests parsed
 * by the CloudEvents SDK) hears of the new repository and of the image, with the Docker manifest's
 * media type and digest as docker reported them, and who pushed. A second push of the same tag by
 * docker (the same content) is announced again, as zot does; deleting the tag through the web UI
 * is announced as image.deleted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDocker, type Docker } from '../helpers/docker.js';
import { startReceiver, type EventReceiver } from '../helpers/event-receiver.js';
import { writeHtpasswd } from '../helpers/htpasswd.js';
import { buildImage, writeOciLayout } from '../helpers/oci-layout.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { skopeo } from '../helpers/skopeo.js';
import { TempDirs } from '../helpers/temp-dirs.js';
import { formTokenOf, signInWithPassword } from '../helpers/ui-session.js';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const dirs = new TempDirs();
let berth: TestServer;
let receiver: EventReceiver;
let docker: Docker;

beforeAll(async () => {
  receiver = await startReceiver();
  berth = await startBerth({
    config: {
      extensions: { ui: { enable: true }, events: { enable: true, sinks: [{ type: 'http', address: receiver.url, timeout: '2s' }] } },
      http: {
        auth: { htpasswd: { path: await writeHtpasswd({ buildbot: 'robot-secret' }) } },
        accessControl: { repositories: { '**': { policies: [{ users: ['buildbot'], actions: ['read', 'create', 'update', 'delete'] }], anonymousPolicy: ['read'] } } },
      },
    },
  });
  docker = await startDocker(await dirs.make('dk'));
}, 120_000);

afterAll(async () => {
  await docker?.stop();
  await berth?.close();
  await receiver?.stop();
  await dirs.removeAll();
});

describe('events from docker', () => {
  it('announce a docker push: repository created, image updated with the digest docker reports, and the robot who pushed', async () => {
    const image = await buildImage({ layers: 2, label: 'events-docker' });
    const layout = await writeOciLayout(await dirs.make('dk-src'), { app: image });
    const archive = `${await dirs.make('dk-archive')}/app.tar`;
    // A docker-archive is Docker's manifest format: the copy converts (so no --preserve-digests).
    await skopeo(['copy', layout.reference('app'), `docker-archive:${archive}:events/app:v1`]);
    await docker.docker(['load', '--input', archive]);
    const target = `${berth.host}/docker/app:v1`;
    await docker.docker(['tag', 'events/app:v1', target]);
    await docker.login(berth.host, 'buildbot', 'robot-secret');
    const pushed = await docker.docker(['push', target], { timeoutMs: 90_000 });
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1];
    expect(digest).toBeDefined();

    const events = await receiver.waitFor(2);
    expect(events.map((item) => item.event.type)).toEqual(['zotregistry.repository.created', 'zotregistry.image.updated']);
    expect(events[1]!.event.data).toMatchObject({ name: 'docker/app', reference: 'v1', digest, mediaType: DOCKER_MANIFEST, actor: { name: 'buildbot', method: 'htpasswd' } });
    expect((JSON.parse(events[1]!.event.data.manifest as string) as { mediaType: string }).mediaType).toBe(DOCKER_MANIFEST);

    // docker pushes the tag again (nothing new to upload): zot announces that too.
    await docker.docker(['push', target], { timeoutMs: 90_000 });
    const again = (await receiver.waitFor(3))[2]!;
    expect(again.event.data).toMatchObject({ reference: 'v1', digest });
    expect(again.event.id).not.toBe(events[1]!.event.id);

    const session = await signInWithPassword(berth.url, 'buildbot', 'robot-secret');
    const page = await (await session.browse('/repository?name=docker/app')).text();
    const form = await session.browse('/repository/delete-tag?name=docker/app&tag=v1', {
      method: 'POST',
      body: new URLSearchParams({ csrf: formTokenOf(page) }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(303);
    const deleted = (await receiver.waitFor(4))[3]!;
    expect(deleted.event.type).toBe('zotregistry.image.deleted');
    expect(deleted.event.data).toMatchObject({ name: 'docker/app', reference: 'v1', digest, mediaType: DOCKER_MANIFEST, actor: { name: 'buildbot', method: 'session' } });
  }, 180_000);
});
