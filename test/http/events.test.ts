/**
 * extensions.events against real parts: a Berth app, an HTTP receiver written here (parsed with the
 * CloudEvents SDK's own HTTP.toEvent), Debian's nats-server with a `nats` subscriber (each message
 * checked by the SDK's CloudEvent validation) and an OpenID provider for a signed-in user. Pushes go
 * over HTTP as an htpasswd robot and as an SSO user's API key, deletes through the registry API and
 * the UI form. The attack rows: refused pushes, tag moves and deletes emit nothing, a redirecting
 * sink is not followed, a sink answering a huge body is cut off, a hanging sink times out, and a sink
 * that fails then recovers gets every event, in order. Under the `s3` project the same runs with the
 * outbox in Redis (the replicas' outbox).
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection, type Subscription } from 'nats';
import { CloudEvent } from 'cloudevents';
import { Redis } from 'ioredis';
import { startBerth, testBackend, waitForDiscovery, type TestServer } from '../helpers/server.js';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { pushImage } from '../helpers/registry-api.js';
import { signInWithPassword, formTokenOf } from '../helpers/ui-session.js';
import { startReceiver, type EventReceiver } from '../helpers/event-receiver.js';
import { startNats, type NatsServer } from '../helpers/nats-server.js';
import { startOidcProvider, type OidcTestProvider } from '../helpers/oidc-provider.js';
import { fetchWithJar, loginThroughProvider } from '../helpers/oidc-login.js';
import { scratchDir } from '../helpers/scratch.js';
import { redisUrl } from '../helpers/services.js';
import { selfSignedCertificate } from '../helpers/self-signed.js';

const PASSWORDS = { ci: 'ci-events-pw', reader: 'reader-events-pw', pusher: 'pusher-events-pw' };
const CI = { authorization: basicAuth('ci', PASSWORDS.ci) };
const READER = { authorization: basicAuth('reader', PASSWORDS.reader) };
/** May create (push new tags) but not update (move a tag) nor delete. */
const PUSHER = { authorization: basicAuth('pusher', PASSWORDS.pusher) };
const SINK_TOKEN = 'sink-token-never-logged';
const CLIENT_SECRET = 'events-client-secret';

let op: OidcTestProvider;
let berth: TestServer;
let receiver: EventReceiver;
let nats: NatsServer;
let subscriber: NatsConnection;
let subscription: Subscription;
const natsEvents: Array<Record<string, any>> = [];

async function metric(name: string, sink: string): Promise<number> {
  const text = await (await fetch(`${berth.url}/metrics`)).text();
  const line = text.split('\n').find((item) => item.startsWith(`${name}{sink="${sink}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

async function until(check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  receiver = await startReceiver();
  nats = await startNats();
  subscriber = await connect({ servers: nats.url.replace('nats://', '') });
  subscription = subscriber.subscribe('registry.events');
  void (async () => {
    for await (const message of subscription) {
      const event = JSON.parse(Buffer.from(message.data).toString('utf8')) as Record<string, any>;
      // Structured mode, checked by the SDK: throws on an event that is not valid CloudEvents 1.0.
      new CloudEvent(event, true);
      natsEvents.push(event);
    }
  })();
  process.env.BERTH_TEST_SINK_TOKEN = SINK_TOKEN;
  op = await startOidcProvider();
  const credentialsFile = path.join(await scratchDir('events'), 'oidc.json');
  await writeFile(credentialsFile, JSON.stringify({ clientid: 'berth', clientsecret: CLIENT_SECRET }));
  berth = await startBerth({
    captureLog: true,
    config: {
      extensions: {
        ui: { enable: true },
        metrics: { enable: true },
        events: {
          enable: true,
          sinks: [
            { type: 'http', address: receiver.url, timeout: '2s', headers: { 'X-Team': 'platform' }, credentials: { token: '${BERTH_TEST_SINK_TOKEN}' } },
            { type: 'nats', address: nats.url, channel: 'registry.events', timeout: '2s' },
          ],
        },
      },
      http: {
        auth: {
          htpasswd: { path: await writeHtpasswd(PASSWORDS) },
          apikey: true,
          openid: { providers: { oidc: { name: 'Pocket ID', issuer: op.issuer, credentialsFile, scopes: ['openid', 'profile', 'groups'], claimMapping: { username: 'preferred_username' } } } },
        },
        accessControl: {
          metrics: { anonymousPolicy: ['read'] },
          repositories: {
            '**': {
              policies: [
                { users: ['ci'], groups: ['admins'], actions: ['read', 'create', 'update', 'delete'] },
                { users: ['pusher'], actions: ['read', 'create'] },
              ],
              defaultPolicy: ['read'],
            },
          },
        },
      },
    },
  });
  await op.setClient({ clientId: 'berth', clientSecret: CLIENT_SECRET, redirectUris: [`${berth.url}/zot/auth/callback/oidc`], postLogoutRedirectUris: [`${berth.url}/`] });
  await waitForDiscovery(berth);
}, 60_000);

afterAll(async () => {
  await berth?.close();
  await subscriber?.close();
  await nats?.stop();
  await receiver?.stop();
  await op?.close();
  delete process.env.BERTH_TEST_SINK_TOKEN;
});

describe('events', () => {
  it('announce a push to both sinks: repository created, then image updated, with zot fields and the actor', async () => {
    const image = await pushImage(berth.url, 'team/app', 'v1', { headers: CI });
    const [created, updated] = await receiver.waitFor(2);
    expect(created!.event.type).toBe('zotregistry.repository.created');
    expect(created!.event.data).toEqual({ name: 'team/app', actor: { name: 'ci', method: 'htpasswd', provider: 'htpasswd' } });
    expect(updated!.event.type).toBe('zotregistry.image.updated');
    expect(updated!.event.source).toBe('zotregistry.dev');
    expect(updated!.event.specversion).toBe('1.0');
    expect(updated!.event.data).toMatchObject({
      name: 'team/app',
      reference: 'v1',
      digest: image.digest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      manifest: image.manifest.toString('utf8'),
    });
    // Binary mode, as zot's sdk-go client sends: ce-* headers, the data as a JSON body.
    expect(updated!.headers['ce-id']).toBe(updated!.event.id);
    expect(updated!.headers['content-type']).toMatch(/^application\/json/);
    expect(updated!.headers['x-team']).toBe('platform');
    expect(updated!.headers.authorization).toBe(`Bearer ${SINK_TOKEN}`);
    await until(() => natsEvents.length >= 2);
    expect(natsEvents.map((event) => event.type)).toEqual(['zotregistry.repository.created', 'zotregistry.image.updated']);
    expect(natsEvents[1]).toMatchObject({ specversion: '1.0', id: updated!.event.id, data: { digest: image.digest, reference: 'v1' } });
    expect(berth.logText()).not.toContain(SINK_TOKEN);
  });

  it('emit nothing for refused pushes, and image.deleted for deletes through the API and the UI', async () => {
    const before = receiver.accepted.length;
    const refused = await fetch(`${berth.url}/v2/team/app/manifests/v9`, {
      method: 'PUT',
      body: '{"schemaVersion":2}',
      headers: { ...READER, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(refused.status).toBe(403);
    const invalid = await fetch(`${berth.url}/v2/team/app/manifests/v9`, {
      method: 'PUT',
      body:
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:' +
        '0'.repeat(64) +
        '","size":2},"layers":[]}',
      headers: { ...CI, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(invalid.status).toBe(400);
    const second = await pushImage(berth.url, 'team/app', 'v2', { headers: CI });
    const deleted = await fetch(`${berth.url}/v2/team/app/manifests/${second.digest}`, { method: 'DELETE', headers: CI });
    expect(deleted.status).toBe(202);
    const session = await signInWithPassword(berth.url, 'ci', PASSWORDS.ci);
    const page = await (await session.browse('/repository?name=team/app')).text();
    const form = await session.browse('/repository/delete-tag?name=team/app&tag=v1', {
      method: 'POST',
      body: new URLSearchParams({ csrf: formTokenOf(page) }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(303);
    const events = (await receiver.waitFor(before + 3)).slice(before);
    // The refused and invalid pushes left no trace: the next event is the accepted push.
    expect(events.map((item) => [item.event.type, item.event.data.reference])).toEqual([
      ['zotregistry.image.updated', 'v2'],
      ['zotregistry.image.deleted', second.digest],
      ['zotregistry.image.deleted', 'v1'],
    ]);
    expect(events[1]!.event.data).toEqual({
      name: 'team/app',
      reference: second.digest,
      digest: second.digest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      actor: { name: 'ci', method: 'htpasswd', provider: 'htpasswd' },
    });
    expect(events[2]!.event.data).toMatchObject({ reference: 'v1', actor: { name: 'ci', method: 'session' } });
    expect(receiver.accepted.length).toBe(before + 3);
  });

  it('keep events while the sink fails or is gone, stay ready, and deliver all in order with stable ids after', async () => {
    const label = `http:127.0.0.1:${receiver.port}/hook`;
    const before = receiver.accepted.length;
    const failedBefore = await metric('berth_events_failed_total', label);
    receiver.mode = { kind: 'fail', status: 503 };
    const first = await pushImage(berth.url, 'team/outage', 'a', { headers: CI });
    await until(async () => (await metric('berth_events_failed_total', label)) > failedBefore);
    await receiver.stop();
    const pushes = [];
    for (const tag of ['b', 'c', 'd']) pushes.push(await pushImage(berth.url, 'team/outage', tag, { headers: CI }));
    expect((await fetch(`${berth.url}/readyz`)).status).toBe(200);
    expect(await metric('berth_events_pending', label)).toBeGreaterThanOrEqual(5);
    receiver.mode = { kind: 'accept' };
    await receiver.start();
    const events = (await receiver.waitFor(before + 5, 30_000)).slice(before);
    expect(events.map((item) => [item.event.type, item.event.data.reference ?? null])).toEqual([
      ['zotregistry.repository.created', null],
      ['zotregistry.image.updated', 'a'],
      ['zotregistry.image.updated', 'b'],
      ['zotregistry.image.updated', 'c'],
      ['zotregistry.image.updated', 'd'],
    ]);
    expect(events[1]!.event.data.digest).toBe(first.digest);
    expect(new Set(events.map((item) => item.event.id)).size).toBe(5);
    await until(async () => (await metric('berth_events_pending', label)) === 0);
    expect(await metric('berth_events_delivered_total', label)).toBeGreaterThanOrEqual(before + 5);
    expect(await (await fetch(`${berth.url}/metrics`)).text()).toMatch(new RegExp(`berth_events_delivery_seconds_count\\{sink="${label.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"\\} \\d+`));
    // The failures were logged, with the sink's status, never the token it was sent (and echoed back).
    expect(berth.logText()).toContain('events: delivery failed; retrying');
    expect(berth.logText()).toContain('answered 503');
    expect(berth.logText()).not.toContain(SINK_TOKEN);
  }, 60_000);

  it('say that a changed extensions.events needs a restart, without its secrets', async () => {
    const document = JSON.parse(await readFile(berth.configFile, 'utf8'));
    document.extensions.events.sinks[0].headers['X-Team'] = 'changed';
    await writeFile(berth.configFile, JSON.stringify(document));
    await berth.app.reloadConfig();
    expect(berth.logText()).toContain('extensions.events changed; it takes effect after a restart');
    expect(berth.logText()).not.toContain(SINK_TOKEN);
    // Still the sinks it started with: a push is delivered with the old header.
    const before = receiver.accepted.length;
    await pushImage(berth.url, 'team/reload', 'v1', { headers: CI });
    expect((await receiver.waitFor(before + 2))[before + 1]!.headers['x-team']).toBe('platform');
  });

  it('name the acting identity: an SSO user pushing with an API key', async () => {
    const before = receiver.accepted.length;
    const login = await loginThroughProvider({ startUrl: `${berth.url}/zot/auth/login?provider=oidc`, username: 'alice' });
    const created = await fetchWithJar(login.jar, `${berth.url}/zot/auth/apikey`, { method: 'POST', body: JSON.stringify({ label: 'ci' }), headers: { 'x-zot-api-client': 'zot-ui' } });
    expect(created.status).toBe(201);
    const key = ((await created.json()) as { apiKey: string }).apiKey;
    const image = await pushImage(berth.url, 'team/sso', 'v1', { headers: { authorization: basicAuth('alice', key) } });
    const events = (await receiver.waitFor(before + 2)).slice(before);
    expect(events[1]!.event.data).toMatchObject({ name: 'team/sso', digest: image.digest, actor: { name: 'alice', method: 'apikey', provider: 'oidc' } });
    expect(berth.logText()).not.toContain(key);
  });

  it('emit nothing for a refused tag move nor a refused delete', async () => {
    const start = receiver.accepted.length;
    const first = await pushImage(berth.url, 'team/guarded', 'v1', { headers: PUSHER });
    let events = (await receiver.waitFor(start + 2)).slice(start);
    expect(events[1]!.event.data).toMatchObject({ reference: 'v1', actor: { name: 'pusher', method: 'htpasswd' } });
    const before = receiver.accepted.length;
    // Moving v1 to other content (a new random image) needs `update`, which pusher lacks: refused under the lock.
    const other = await pushImage(berth.url, 'team/guarded', 'v1', { headers: PUSHER }).catch((error: Error) => error);
    expect(String(other)).toMatch(/403/);
    for (const [headers, reference] of [
      [PUSHER, 'v1'],
      [READER, first.digest],
    ] as const) {
      expect((await fetch(`${berth.url}/v2/team/guarded/manifests/${reference}`, { method: 'DELETE', headers })).status).toBe(403);
    }
    const next = await pushImage(berth.url, 'team/guarded', 'v2', { headers: CI });
    events = (await receiver.waitFor(before + 1)).slice(before);
    expect(events.map((item) => [item.event.type, item.event.data.reference, item.event.data.digest])).toEqual([['zotregistry.image.updated', 'v2', next.digest]]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.accepted.length).toBe(before + 1);
  });

  it('keep the outbox on disk under <root>/_berth/events, or in Redis when replicas share it', async () => {
    if (testBackend() === 'fs') {
      const files = await readdir(path.join(berth.root, '_berth', 'events'));
      expect(files.some((name) => /^segment-\d{16}\.jsonl$/.test(name))).toBe(true);
      expect(files.filter((name) => name.startsWith('cursor-'))).toHaveLength(2);
      return;
    }
    await expect(readdir(path.join(berth.root, '_berth', 'events'))).rejects.toMatchObject({ code: 'ENOENT' });
    const redis = new Redis(redisUrl());
    try {
      expect(await redis.get(`${berth.bucket}:log:events:last`)).toMatch(/^\d+$/);
      expect(Object.keys(await redis.hgetall(`${berth.bucket}:log:events:positions`))).toHaveLength(2);
    } finally {
      redis.disconnect();
    }
  });
});

describe('hostile sinks', () => {
  let hostile: TestServer;
  let sink: EventReceiver;
  let elsewhere: EventReceiver;

  beforeAll(async () => {
    sink = await startReceiver();
    elsewhere = await startReceiver();
    hostile = await startBerth({ config: { extensions: { metrics: { enable: true }, events: { enable: true, sinks: [{ type: 'http', address: sink.url, timeout: '1s' }] } } } });
  });

  afterAll(async () => {
    await hostile?.close();
    await sink?.stop();
    await elsewhere?.stop();
  });

  it('do not follow a redirect to another host', async () => {
    sink.mode = { kind: 'redirect', location: elsewhere.url };
    await pushImage(hostile.url, 'hostile/redirect', 'v1');
    await until(() => sink.attempts >= 2);
    expect(elsewhere.attempts).toBe(0);
    sink.mode = { kind: 'accept' };
    await sink.waitFor(2, 20_000);
    expect(elsewhere.attempts).toBe(0);
  }, 30_000);

  it('read no more than a little of a huge answer', async () => {
    const before = sink.accepted.length;
    sink.mode = { kind: 'huge', bytes: 512 * 1024 * 1024 };
    const pushed = await pushImage(hostile.url, 'hostile/redirect', 'v2');
    await sink.waitFor(before + 1);
    await until(() => sink.hugeBytesWritten > 0);
    await new Promise((resolve) => setTimeout(resolve, 500));
    // The sender hung up after a few KiB: nowhere near the 512 MiB on offer.
    expect(sink.hugeBytesWritten).toBeLessThan(16 * 1024 * 1024);
    expect(sink.accepted.at(-1)!.event.data.digest).toBe(pushed.digest);
    sink.mode = { kind: 'accept' };
  }, 30_000);

  it('give up on a sink that never answers after its timeout, and retry', async () => {
    const before = sink.attempts;
    sink.mode = { kind: 'hang' };
    const started = Date.now();
    await pushImage(hostile.url, 'hostile/slow', 'v1');
    await until(() => sink.attempts >= before + 2, 15_000);
    // Two attempts within a few seconds: the 1 s timeout ended the first.
    expect(Date.now() - started).toBeLessThan(10_000);
    sink.mode = { kind: 'accept' };
    await until(() => sink.accepted.some((item) => item.event.data.name === 'hostile/slow' && item.event.type.endsWith('image.updated')), 20_000);
  }, 30_000);

  it('give up on a sink that answers 200 but never finishes, and retry', async () => {
    const before = sink.attempts;
    const accepted = sink.accepted.length;
    sink.mode = { kind: 'trickle' };
    const started = Date.now();
    await pushImage(hostile.url, 'hostile/trickle', 'v1');
    // Each attempt is cut at the 1 s timeout although bytes keep coming, and tried again.
    await until(() => sink.attempts >= before + 3, 15_000);
    expect(Date.now() - started).toBeLessThan(12_000);
    expect(sink.accepted.length).toBe(accepted);
    sink.mode = { kind: 'accept' };
    await until(() => sink.accepted.some((item) => item.event.data.name === 'hostile/trickle' && item.event.type.endsWith('image.updated')), 20_000);
  }, 30_000);
});

describe('giving up on an event', () => {
  let server: TestServer;
  let sink: EventReceiver;

  beforeAll(async () => {
    sink = await startReceiver();
    server = await startBerth({
      captureLog: true,
      config: { extensions: { metrics: { enable: true }, events: { enable: true, sinks: [{ type: 'http', address: sink.url, timeout: '1s' }] } } },
    });
  });

  afterAll(async () => {
    await server?.close();
    await sink?.stop();
  });

  async function counted(name: string): Promise<number> {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = text.split('\n').find((item) => item.startsWith(`${name}{sink="http:127.0.0.1:${sink.port}/hook"}`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  }

  it('drop an event the sink refuses with a 4xx (counted, logged), and go on with the next', async () => {
    sink.mode = { kind: 'fail', status: 400 };
    await pushImage(server.url, 'drop/refused', 'v1');
    await until(async () => (await counted('berth_events_dropped_total')) >= 2, 10_000);
    expect(server.logText()).toContain('events: the sink refused the event; dropped');
    sink.mode = { kind: 'accept' };
    const next = await pushImage(server.url, 'drop/refused', 'v2');
    const [event] = await sink.waitFor(1);
    expect(event!.event.data).toMatchObject({ reference: 'v2', digest: next.digest });
  });
});

describe('a TLS sink', () => {
  let server: TestServer;
  let sink: EventReceiver;
  const files: Record<string, string> = {};

  /** A self-signed certificate for `name` (its own CA), made by openssl. */
  async function selfSigned(dir: string, name: string, subject: string): Promise<void> {
    const { certFile, keyFile } = await selfSignedCertificate(dir, name, subject, ['IP:127.0.0.1']);
    files[`${name}.crt`] = certFile;
    files[`${name}.key`] = keyFile;
  }

  beforeAll(async () => {
    const dir = await scratchDir('events-tls');
    await selfSigned(dir, 'sink', '/CN=127.0.0.1');
    await selfSigned(dir, 'client', '/CN=berth-events');
    const [cert, key, clientCa] = await Promise.all([readFile(files['sink.crt']!), readFile(files['sink.key']!), readFile(files['client.crt']!)]);
    // The sink trusts only Berth's client certificate, and asks for it.
    sink = await startReceiver({ tls: { cert, key, ca: clientCa, requestCert: true, rejectUnauthorized: true } });
    server = await startBerth({
      config: {
        extensions: {
          metrics: { enable: true },
          events: {
            enable: true,
            sinks: [
              { type: 'http', address: sink.url, timeout: '2s', cacertfile: files['sink.crt'], certfile: files['client.crt'], keyfile: files['client.key'] },
              // The same sink without its CA: the self-signed certificate must not be trusted.
              { type: 'http', address: `${sink.url}?untrusted`, timeout: '2s', certfile: files['client.crt'], keyfile: files['client.key'] },
            ],
          },
        },
      },
    });
  });

  afterAll(async () => {
    await server?.close();
    await sink?.stop();
  });

  it('deliver over TLS with the configured CA and client certificate, and never to a sink whose certificate is not trusted', async () => {
    const pushed = await pushImage(server.url, 'tls/app', 'v1');
    const events = await sink.waitFor(2);
    expect(events[1]!.event.data).toMatchObject({ name: 'tls/app', digest: pushed.digest });
    expect(events.map((item) => item.clientCertificate)).toEqual(['berth-events', 'berth-events']);
    await until(async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      // Labelled apart from the first (same host and path): `#2`, its place in the list.
      return /^berth_events_failed_total\{sink="http:127\.0\.0\.1:\d+\/hook#2"\} [1-9]/m.test(text);
    });
    // Only the sink with the CA got anything: the other one's handshake fails each time.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(sink.accepted).toHaveLength(2);
    expect(await (await fetch(`${server.url}/metrics`)).text()).toMatch(/^berth_events_delivered_total\{sink="http:127\.0\.0\.1:\d+\/hook"\} 2$/m);
  });
});
