/**
 * Two Berth processes as replicas of one registry: each with its own (empty) local root, sharing
 * one bucket of the test Ceph cluster and one Redis, with the S3 keys in the environment as an
 * operator would mount them. A round-robin proxy stands in for the load balancer the browser and
 * the OpenID Provider see (externalUrl).
 *
 * - skopeo pushes through A and pulls through B; podman pushes through B and pulls through A;
 * - a chunked upload opened on A continues with PATCHes alternating B, A, B and ends with the PUT
 *   on A, crossing the 8 MiB part size of the S3 store;
 * - a sign-in started on one replica finishes on the other, the session works on both, and
 *   signing out on B kills the cookie on A;
 * - A is killed (SIGKILL) while clients push; they carry on against B (resuming their upload
 *   sessions there), every acknowledged push is served intact, and `berth scrub` passes.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllBerthProcesses, runBerthCommand, startBerthProcess, writeConfig, type BerthProcess } from '../helpers/berth-process.js';
import { containerTools } from '../helpers/container-tools.js';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { buildImage, readOciLayout, writeOciLayout, type ContentBlob, type Image } from '../helpers/oci-layout.js';
import { loginThroughProvider } from '../helpers/oidc-login.js';
import { startOidcProvider, type OidcTestProvider } from '../helpers/oidc-provider.js';
import { expectRegistryHolds } from '../helpers/registry-assertions.js';
import { startRoundRobin, type RoundRobin } from '../helpers/round-robin.js';
import { createBucket, emptyAndDeleteBucket, redisUrl, s3Client, s3Service } from '../helpers/services.js';
import { skopeo, skopeoCopy } from '../helpers/skopeo.js';
import { TempDirs } from '../helpers/temp-dirs.js';
import { sha256 } from '../helpers/oci.js';

const ROBOT = basicAuth('buildbot', 'robot-secret');
const UI = { 'x-zot-api-client': 'zot-ui' };
const dirs = new TempDirs();
let bucket: string;
let op: OidcTestProvider;
let balancer: RoundRobin;
let config: Record<string, Record<string, unknown>>;
let env: Record<string, string>;
let a: BerthProcess;
let b: BerthProcess;

const hostOf = (url: string) => new URL(url).host;

beforeAll(async () => {
  const s3 = s3Service();
  bucket = await createBucket('berth-replicas');
  op = await startOidcProvider();
  balancer = await startRoundRobin([]);
  const secrets = await dirs.make('replica-secrets');
  const credentialsFile = path.join(secrets, 'oidc.json');
  await writeFile(credentialsFile, JSON.stringify({ clientid: 'berth', clientsecret: 'replica-client-secret' }));
  // No sessionKeysFile: the replicas agree on cookie keys through Redis.
  config = {
    extensions: { ui: { enable: true } },
    storage: {
      gc: false,
      storageDriver: { name: 's3', bucket, rootdirectory: '/registry', region: s3.region, regionendpoint: s3.endpoint },
      cacheDriver: { name: 'redis', url: redisUrl(), keyprefix: bucket },
    },
    http: {
      externalUrl: balancer.url,
      auth: {
        htpasswd: { path: await writeHtpasswd({ buildbot: 'robot-secret' }) },
        openid: { providers: { oidc: { name: 'Pocket ID', issuer: op.issuer, credentialsFile, scopes: ['openid', 'profile', 'groups'], claimMapping: { username: 'preferred_username' } } } },
      },
      accessControl: {
        repositories: {
          '**': {
            policies: [
              { users: ['buildbot'], actions: ['read', 'create', 'update'] },
              { groups: ['users'], actions: ['read'] },
            ],
            anonymousPolicy: ['read'],
          },
        },
      },
    },
  };
  env = { AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey };
  [a, b] = await Promise.all([startBerthProcess(await dirs.make('replica-a'), config, { env }), startBerthProcess(await dirs.make('replica-b'), config, { env })]);
  balancer.upstreams.push(a.url, b.url);
  await op.setClient({ clientId: 'berth', clientSecret: 'replica-client-secret', redirectUris: [`${balancer.url}/zot/auth/callback/oidc`], postLogoutRedirectUris: [`${balancer.url}/`] });
});

afterAll(async () => {
  await killAllBerthProcesses();
  await balancer?.close();
  await op?.close();
  if (bucket) await emptyAndDeleteBucket(bucket);
  await dirs.removeAll();
});

describe('real clients across replicas', () => {
  it('skopeo pushes through A and pulls through B, byte for byte', async () => {
    const image = await buildImage({ layers: 2, label: 'replicas-skopeo' });
    const layout = await writeOciLayout(await dirs.make('replicas-skopeo-src'), { app: image });
    const catalog = async () => ((await (await fetch(`${b.url}/v2/_catalog`, { headers: { authorization: ROBOT } })).json()) as { repositories: string[] }).repositories;
    expect(await catalog()).not.toContain('team/app'); // B has walked the bucket and caches what it saw
    await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', 'buildbot:robot-secret', layout.reference('app'), `docker://${hostOf(a.url)}/team/app:v1`]);
    // A new repository made on A is in B's catalog at once, not after B's cache expires.
    expect(await catalog()).toContain('team/app');
    const pulledDir = await dirs.make('replicas-skopeo-pulled');
    await skopeoCopy(`docker://${hostOf(b.url)}/team/app:v1`, `oci:${pulledDir}:app`);
    const pulled = await readOciLayout(pulledDir);
    expect(pulled.blobs.get(image.manifest.digest)?.equals(image.manifest.bytes)).toBe(true);
    for (const blob of [image.config, ...image.layers]) expect(sha256(pulled.blobs.get(blob.digest)!)).toBe(blob.digest);
    await expectRegistryHolds(b.url, 'team/app', 'v1', image);
  });

  it('keeps an OCI image layout per repository in the bucket: copied out, skopeo reads it as is', async () => {
    const image = await buildImage({ layers: 1, label: 'replicas-layout' });
    const layout = await writeOciLayout(await dirs.make('replicas-layout-src'), { v1: image });
    await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', 'buildbot:robot-secret', layout.reference('v1'), `docker://${hostOf(a.url)}/team/layout:v1`]);
    // What `aws s3 sync s3://bucket/registry/team/layout ./copy` would do.
    const copy = await dirs.make('replicas-layout-copy');
    const client = s3Client();
    try {
      const prefix = 'registry/team/layout/';
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
      for (const object of listed.Contents ?? []) {
        const relative = object.Key!.slice(prefix.length);
        if (relative.startsWith('.uploads/')) continue;
        const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key! }));
        await mkdir(path.dirname(path.join(copy, relative)), { recursive: true });
        await writeFile(path.join(copy, relative), await got.Body!.transformToByteArray());
      }
    } finally {
      client.destroy();
    }
    const pulledDir = await dirs.make('replicas-layout-pulled');
    await skopeoCopy(`oci:${copy}:v1`, `oci:${pulledDir}:v1`);
    const pulled = await readOciLayout(pulledDir);
    expect(pulled.blobs.get(image.manifest.digest)?.equals(image.manifest.bytes)).toBe(true);
    for (const blob of [image.config, ...image.layers]) expect(pulled.blobs.has(blob.digest)).toBe(true);
  });

  it('podman pushes through B and pulls through A', async () => {
    const tools = await containerTools(await dirs.make('rp'), hostOf(b.url));
    const source = await writeOciLayout(await dirs.make('replicas-podman-src'), { app: await buildImage({ layers: 1, label: 'replicas-podman' }) });
    await tools.podman(['pull', source.reference('app')]);
    const [loaded] = (await tools.podman(['images', '--format', '{{.ID}}'])).stdout.trim().split('\n');
    await tools.podman(['push', '--tls-verify=false', '--creds', 'buildbot:robot-secret', loaded!, `${hostOf(b.url)}/team/podman:v1`]);
    const other = await containerTools(await dirs.make('rq'), hostOf(a.url));
    await other.podman(['pull', '--tls-verify=false', `${hostOf(a.url)}/team/podman:v1`]);
    const pulled = await other.inspectImage(`${hostOf(a.url)}/team/podman:v1`);
    const original = await tools.inspectImage(loaded!);
    expect(pulled.RootFS.Layers).toEqual(original.RootFS.Layers);
    expect(pulled.Labels).toEqual(original.Labels);
  });
});

describe('one upload across replicas', () => {
  it('starts on A, PATCHes on B, A and B, ends on A; status answers on either replica', async () => {
    // 6 MiB + 5 MiB + 1 byte: the second chunk fills the store's first 8 MiB part.
    const bytes = randomBytes(11 * 1024 * 1024 + 1);
    const chunks = [bytes.subarray(0, 6 << 20), bytes.subarray(6 << 20, 11 << 20), bytes.subarray(11 << 20)];
    const started = await fetch(`${a.url}/v2/team/chunked/blobs/uploads/`, { method: 'POST', headers: { authorization: ROBOT } });
    expect(started.status).toBe(202);
    let location = started.headers.get('location')!;
    const replicas = [b, a, b];
    let offset = 0;
    for (const [i, chunk] of chunks.entries()) {
      const patched = await fetch(`${replicas[i]!.url}${location}`, {
        method: 'PATCH',
        headers: { authorization: ROBOT, 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + chunk.length - 1}` },
        body: chunk,
      });
      expect(patched.status, `PATCH ${i} on ${replicas[i] === a ? 'A' : 'B'}`).toBe(202);
      offset += chunk.length;
      expect(patched.headers.get('range')).toBe(`0-${offset - 1}`);
      location = patched.headers.get('location')!;
      // The other replica knows where the session stands.
      const other = replicas[i] === a ? b : a;
      const status = await fetch(`${other.url}${location}`, { headers: { authorization: ROBOT } });
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe(`0-${offset - 1}`);
    }
    // A chunk that does not start where the session ends is refused by either replica.
    const misplaced = await fetch(`${b.url}${location}`, { method: 'PATCH', headers: { authorization: ROBOT, 'content-range': '5-9' }, body: randomBytes(5) });
    expect(misplaced.status).toBe(416);
    const finished = await fetch(`${a.url}${location}${location.includes('?') ? '&' : '?'}digest=${sha256(bytes)}`, { method: 'PUT', headers: { authorization: ROBOT } });
    expect(finished.status).toBe(201);
    for (const replica of [a, b]) {
      const got = await fetch(`${replica.url}/v2/team/chunked/blobs/${sha256(bytes)}`);
      expect(got.status).toBe(200);
      expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);
    }
    // The session is gone everywhere once committed.
    expect((await fetch(`${b.url}${location}`, { headers: { authorization: ROBOT } })).status).toBe(404);
  });
});

describe('sign-in across replicas', () => {
  it('a login started on one replica finishes on the other; signing out on B kills the cookie on A', async () => {
    const before = balancer.served.length;
    const login = await loginThroughProvider({ startUrl: `${balancer.url}/zot/auth/login?provider=oidc`, username: 'alice' });
    expect(login.response.status, `${await login.response.clone().text()}\n${a.output()}\n${b.output()}`).toBe(302);
    // Through the balancer, the redirect to the provider and the callback came from different replicas.
    const turns = balancer.served.slice(before);
    const loginTurn = turns.find((line) => line.includes('/zot/auth/login'))!;
    const callbackTurn = turns.find((line) => line.includes('/zot/auth/callback/oidc'))!;
    expect(loginTurn.split(' ')[0]).not.toBe(callbackTurn.split(' ')[0]);
    const cookie = login.jar
      .matching(`${balancer.url}/`)
      .map((entry) => `${entry.name}=${entry.value}`)
      .join('; ');
    expect(cookie).toMatch(/session=/);
    for (const replica of [a, b]) {
      const me = await fetch(`${replica.url}/api/ui/me`, { headers: { ...UI, cookie } });
      expect(me.status, replica === a ? 'A' : 'B').toBe(200);
      expect(((await me.json()) as { username: string }).username).toBe('alice');
    }
    const out = await fetch(`${b.url}/zot/auth/logout`, { method: 'POST', headers: { ...UI, cookie } });
    expect(out.status).toBe(200);
    expect((await fetch(`${a.url}/api/ui/me`, { headers: { ...UI, cookie } })).status).toBe(401);
  });
});

/** A request that got no answer: the replica died under it. */
class Interrupted extends Error {}

async function call(url: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
  } catch (error) {
    throw new Interrupted(String((error as Error).cause ?? error));
  }
}

/** The replica clients use now: A until it dies, then B. */
class Failover {
  current: BerthProcess;
  acknowledged = 0;
  constructor(
    first: BerthProcess,
    private readonly second: BerthProcess,
  ) {
    this.current = first;
  }
  failedOver(): void {
    this.current = this.second;
  }
}

/** Pushes a blob in 64 KiB chunks; on an interruption asks the (other) replica where the session stands and goes on. */
async function pushBlob(target: Failover, repository: string, blob: ContentBlob): Promise<void> {
  let location: string | undefined;
  let offset = 0;
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      if (location === undefined) {
        const started = await call(`${target.current.url}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: { authorization: ROBOT } });
        expect(started.status).toBe(202);
        location = started.headers.get('location')!;
      } else {
        const status = await call(`${target.current.url}${location}`, { headers: { authorization: ROBOT } });
        if (status.status === 404) {
          // Committed with the answer lost (then the blob is there), or never begun: start over.
          if ((await call(`${target.current.url}/v2/${repository}/blobs/${blob.digest}`, { method: 'HEAD' })).status === 200) return;
          location = undefined;
          offset = 0;
          continue;
        }
        expect(status.status).toBe(204);
        const last = Number(/^0-(\d+)$/.exec(status.headers.get('range')!)![1]);
        offset = last === 0 ? 0 : last + 1;
      }
      while (offset < blob.size) {
        const end = Math.min(offset + 64 * 1024, blob.size);
        const patched = await call(`${target.current.url}${location}`, {
          method: 'PATCH',
          headers: { authorization: ROBOT, 'content-type': 'application/octet-stream', 'content-range': `${offset}-${end - 1}` },
          body: blob.bytes.subarray(offset, end),
        });
        if (patched.status === 416) {
          offset = ((await patched.json()) as { errors: Array<{ detail: { offset: number } }> }).errors[0]!.detail.offset;
          continue;
        }
        expect(patched.status).toBe(202);
        offset = end;
        location = patched.headers.get('location')!;
      }
      const put = await call(`${target.current.url}${location}${location.includes('?') ? '&' : '?'}digest=${blob.digest}`, { method: 'PUT', headers: { authorization: ROBOT } });
      if (put.status === 404 && (await call(`${target.current.url}/v2/${repository}/blobs/${blob.digest}`, { method: 'HEAD' })).status === 200) return;
      expect(put.status).toBe(201);
      return;
    } catch (error) {
      if (!(error instanceof Interrupted)) throw error;
      target.failedOver();
    }
  }
  throw new Error(`gave up pushing ${blob.digest}`);
}

async function pushImage(target: Failover, repository: string, tag: string, image: Image): Promise<void> {
  for (const blob of [image.config, ...image.layers]) await pushBlob(target, repository, blob);
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const put = await call(`${target.current.url}/v2/${repository}/manifests/${tag}`, {
        method: 'PUT',
        headers: { authorization: ROBOT, 'content-type': image.manifest.mediaType },
        body: image.manifest.bytes,
      });
      expect(put.status).toBe(201);
      target.acknowledged += 1;
      return;
    } catch (error) {
      if (!(error instanceof Interrupted)) throw error;
      target.failedOver();
    }
  }
}

describe('a replica killed mid-push', () => {
  it('loses no acknowledged push: clients go on against the other replica, and scrub passes', async () => {
    const victim = await startBerthProcess(await dirs.make('replica-victim'), config, { env });
    const target = new Failover(victim, b);
    const work = Array.from({ length: 8 }, async (_, worker) => {
      const pushed: Array<{ repository: string; tag: string; image: Image }> = [];
      for (let round = 0; round < 3; round++) {
        const image = await buildImage({ layers: 2, maxFileBytes: 96 * 1024, label: `kill-${worker}-${round}` });
        const repository = `crash/w${worker % 4}`;
        await pushImage(target, repository, `r${worker}-${round}`, image);
        pushed.push({ repository, tag: `r${worker}-${round}`, image });
      }
      return pushed;
    });
    // Kill the replica once a few pushes are acknowledged and others are in flight.
    while (target.acknowledged < 4) await new Promise((resolve) => setTimeout(resolve, 20));
    await victim.kill9();
    const pushed = (await Promise.all(work)).flat();
    expect(pushed).toHaveLength(24);
    for (const { repository, tag, image } of pushed) await expectRegistryHolds(b.url, repository, tag, image);
    for (const { repository, tag, image } of pushed) await expectRegistryHolds(a.url, repository, tag, image);
    const scrubConfig = await writeConfig(await dirs.make('replica-scrub'), config);
    const scrub = await runBerthCommand('scrub', scrubConfig.file, env);
    expect(scrub.code, scrub.stdout + scrub.stderr).toBe(0);
    const checked = /^(\d+) images checked, 0 affected$/m.exec(scrub.stdout);
    expect(Number(checked?.[1]), scrub.stdout).toBeGreaterThanOrEqual(pushed.length);
    // With the locks in Redis, `berth gc` runs beside live replicas; within gcDelay it takes nothing.
    const gc = await runBerthCommand('gc', scrubConfig.file, env);
    await scrubConfig.remove();
    expect(gc.code, gc.stdout + gc.stderr).toBe(0);
    for (const { repository, tag, image } of pushed.slice(0, 3)) await expectRegistryHolds(a.url, repository, tag, image);
  }, 180_000);
});
