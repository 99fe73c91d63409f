/**
 * Garbage collection and retention against a real server's storage. Time is simulated by passing
 * `now` (hours ahead) to the collector rather than by sleeping.
 */
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers/scratch.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { pushBlob, pushImage, type PushedImage } from '../helpers/registry-api.js';
import { OCI_INDEX, OCI_MANIFEST, sha256 } from '../helpers/oci.js';

const HOUR = 3_600_000;
let server: TestServer;
afterEach(async () => server?.close());

const put = (repo: string, reference: string, body: Buffer, type = OCI_MANIFEST) =>
  fetch(`${server.url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body, headers: { 'content-type': type } });
const status = async (target: string) => (await fetch(`${server.url}/v2/${target}`, { method: 'HEAD' })).status;
const descriptor = (image: PushedImage) => ({ mediaType: OCI_MANIFEST, digest: image.digest, size: image.manifest.length });

describe('garbage collection', () => {
  it('removes untagged manifests and unreferenced blobs once older than the delays, and keeps what is used', async () => {
    server = await startBerth({ config: { storage: { gcDelay: '1h' } } });
    const kept = await pushImage(server.url, 'gc/app', 'v1');
    const dropped = await pushImage(server.url, 'gc/app', 'temp');
    await fetch(`${server.url}/v2/gc/app/manifests/temp`, { method: 'DELETE' });
    // A child of a tagged index stays although untagged; a referrer of a living subject stays.
    const child = await pushImage(server.url, 'gc/app', 'child');
    await fetch(`${server.url}/v2/gc/app/manifests/child`, { method: 'DELETE' });
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...descriptor(child), platform: { architecture: 'amd64', os: 'linux' } }] }));
    expect((await put('gc/app', 'multi', index, OCI_INDEX)).status).toBe(201);
    const signature = await pushImage(server.url, 'gc/app', 'sig', { subject: descriptor(kept), artifactType: 'application/vnd.example.sig' });
    await fetch(`${server.url}/v2/gc/app/manifests/sig`, { method: 'DELETE' });
    const strayBlob = await pushBlob(server.url, 'gc/app', randomBytes(100));
    await fetch(`${server.url}/v2/gc/app/blobs/uploads/`, { method: 'POST' });

    // Too young: nothing goes.
    const early = await server.app.maintenance.gc.collect(Date.now());
    expect(early.repositories[0]).toMatchObject({ manifests: [], blobs: [], uploads: [] });

    const later = await server.app.maintenance.gc.collect(Date.now() + 2 * HOUR);
    const report = later.repositories[0]!;
    expect(report.manifests).toEqual([dropped.digest]);
    expect(report.blobs.map((blob) => blob.digest).sort()).toEqual([dropped.digest, sha256(dropped.config), ...dropped.layers.map((layer) => sha256(layer)), strayBlob].sort());
    expect(report.uploads).toHaveLength(1);
    expect(report.bytesFreed).toBeGreaterThan(0);
    expect(await status(`gc/app/manifests/${dropped.digest}`)).toBe(404);
    expect(await status(`gc/app/blobs/${strayBlob}`)).toBe(404);
    for (const digest of [kept.digest, child.digest, signature.digest, sha256(kept.layers[0]!), sha256(child.config)]) {
      expect(await status(`gc/app/manifests/${digest}`).then(async (code) => (code === 200 ? code : status(`gc/app/blobs/${digest}`))), digest).toBe(200);
    }
    expect(await readdir(path.join(server.root, 'gc/app/.uploads'))).toEqual([]);
  });

  it('removes a referrer whose subject is gone only when deleteReferrers says so', async () => {
    server = await startBerth({
      config: {
        storage: {
          gcDelay: '1h',
          retention: {
            policies: [
              { repositories: ['keep/**'], deleteReferrers: false },
              { repositories: ['**'], deleteReferrers: true },
            ],
          },
        },
      },
    });
    for (const repo of ['keep/app', 'drop/app']) {
      const subject = await pushImage(server.url, repo, 'subject');
      await pushImage(server.url, repo, 'sig', { subject: descriptor(subject) });
      await fetch(`${server.url}/v2/${repo}/manifests/sig`, { method: 'DELETE' });
      await fetch(`${server.url}/v2/${repo}/manifests/${subject.digest}`, { method: 'DELETE' });
    }
    const collection = await server.app.maintenance.gc.collect(Date.now() + 2 * HOUR);
    const byName = Object.fromEntries(collection.repositories.map((item) => [item.repository, item]));
    expect(byName['keep/app']!.manifests).toHaveLength(0);
    expect(byName['drop/app']!.manifests).toHaveLength(1);
  });

  it('applies keepTags (patterns and mostRecentlyPushedCount) and dryRun only reports', async () => {
    const retention = { policies: [{ repositories: ['ret/**'], keepTags: [{ patterns: ['^v'], mostRecentlyPushedCount: 2 }, { patterns: ['^stable$'] }] }] };
    const root = await scratchDir('retention');
    server = await startBerth({ root, config: { storage: { gcDelay: '1h', retention: { ...retention, dryRun: true } } } });
    const images: PushedImage[] = [];
    for (const tag of ['v1', 'v2', 'v3', 'stable', 'nightly']) {
      images.push(await pushImage(server.url, 'ret/app', tag, { layers: 1 }));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const dry = await server.app.maintenance.gc.collect(Date.now() + 2 * HOUR);
    expect(dry.dryRun).toBe(true);
    expect(dry.repositories[0]!.tags.sort()).toEqual(['nightly', 'v1']);
    expect(await status('ret/app/manifests/v1')).toBe(200);

    await server.close();
    server = await startBerth({ root, config: { storage: { gcDelay: '1h', retention } } });
    const real = await server.app.maintenance.gc.collect(Date.now() + 2 * HOUR);
    expect(real.repositories[0]!.tags.sort()).toEqual(['nightly', 'v1']);
    expect(real.repositories[0]!.manifests.sort()).toEqual([images[0]!.digest, images[4]!.digest].sort());
    const tags = await (await fetch(`${server.url}/v2/ret/app/tags/list`)).json();
    expect(tags).toEqual({ name: 'ret/app', tags: ['stable', 'v2', 'v3'] });
  });

  it('never leaves an acknowledged manifest without its blobs when pushes race a collection (gcDelay 0)', async () => {
    server = await startBerth({ config: { storage: { gcDelay: '0s', gc: true } } });
    let collecting = true;
    const collector = (async () => {
      let passes = 0;
      while (collecting) {
        await server.app.maintenance.gc.collect();
        passes += 1;
        // A short pause: with gcDelay 0 even upload sessions go at every pass, so without one no push
        // could ever win. (It also
        // lets I/O in: with no repository yet, a pass is pure microtasks and would starve the pushes.)
        await new Promise((resolve) => setTimeout(resolve, 150 + Math.random() * 100));
      }
      return passes;
    })();
    // Like real clients, a push that lost the race (its blobs collected before its manifest came)
    // starts again; each attempt either ends acknowledged with all its blobs, or refused cleanly.
    const failures: unknown[] = [];
    const pushWithRetries = async (tag: string): Promise<PushedImage> => {
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await pushImage(server.url, 'race/app', tag, { layers: 2 });
        } catch (error) {
          failures.push(error);
          if (attempt === 25) throw error;
        }
      }
    };
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => pushWithRetries(`t${i}`)));
    collecting = false;
    expect(await collector).toBeGreaterThan(0);
    const acknowledged = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(acknowledged.length).toBeLessThanOrEqual(20);
    await server.app.maintenance.gc.collect();
    for (const image of acknowledged) {
      const manifest = await fetch(`${server.url}/v2/race/app/manifests/${image.digest}`);
      expect(manifest.status).toBe(200);
      for (const blob of [image.config, ...image.layers]) {
        const get = await fetch(`${server.url}/v2/race/app/blobs/${sha256(blob)}`);
        expect(get.status).toBe(200);
        expect(Buffer.from(await get.arrayBuffer()).equals(blob)).toBe(true);
      }
    }
    // Attempts that lost the race failed cleanly: a missing blob or upload, never a broken manifest.
    for (const failure of failures) expect(String(failure)).toMatch(/MANIFEST_BLOB_UNKNOWN|BLOB_UPLOAD_UNKNOWN|404|400/);
  });
});
