/**
 * Periodic sync (pollInterval) against Debian's docker-registry behind a counting proxy: a round
 * copies the repositories a content rule names (prefix glob, destination, stripPrefix) and the tags
 * its filters let through (semver, excludeRegex), with cosign's signature tags; the next round
 * copies only what moved; an
 * upstream that is not onDemand is never asked on a pull.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { sha256 } from '../helpers/oci.js';
import { MANIFEST_ACCEPT, pushImage } from '../helpers/registry-api.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.js';
import { startDockerRegistry, type UpstreamRegistry } from '../helpers/upstream-registry.js';

const get = (url: string) => fetch(url, { headers: { accept: MANIFEST_ACCEPT } });

describe('periodic sync (extensions.sync pollInterval)', () => {
  let upstream: UpstreamRegistry;
  let proxy: CountingProxy;
  let berth: TestServer;
  let auditFile: string;

  beforeAll(async () => {
    auditFile = path.join(await mkdtemp(path.join(tmpdir(), 'berth-sync-periodic-')), 'audit.log');
    upstream = await startDockerRegistry();
    proxy = await startCountingProxy(upstream.url);
    berth = await startBerth({
      config: {
        log: { level: 'info', audit: auditFile },
        extensions: {
          sync: {
            enable: true,
            registries: [
              {
                urls: [proxy.url],
                onDemand: false,
                pollInterval: '1h',
                tlsVerify: false,
                content: [{ prefix: 'team/**', destination: '/mirror', stripPrefix: true, tags: { semver: true, excludeRegex: '-rc' } }],
              },
            ],
          },
        },
      },
      captureLog: true,
    });
  }, 60_000);
  afterAll(async () => {
    await berth?.close();
    await proxy?.stop();
    await upstream?.stop();
  });

  it('copies what the rules name, then only what moved', async () => {
    const a1 = await pushImage(upstream.url, 'team/a', 'v1.0.0');
    await pushImage(upstream.url, 'team/a', 'v1.1.0-rc1');
    await pushImage(upstream.url, 'team/a', 'latest');
    const b1 = await pushImage(upstream.url, 'team/b', '1.0');
    await pushImage(upstream.url, 'other/x', '1.0');
    // cosign's tag-scheme signature of team/a:v1.0.0 travels with it; no filter applies to it.
    const signature = `${a1.digest.replace(':', '-')}.sig`;
    await pushImage(upstream.url, 'team/a', signature);
    const first = await berth.app.periodicSync!.runNow();
    expect(first).toEqual([{ upstream: proxy.url, repositories: 2, copied: 2, unchanged: 0, failed: 0 }]);
    expect(await (await get(`${berth.url}/v2/mirror/a/tags/list`)).json()).toEqual({ name: 'mirror/a', tags: [signature, 'v1.0.0'] });
    expect(await (await get(`${berth.url}/v2/mirror/b/tags/list`)).json()).toEqual({ name: 'mirror/b', tags: ['1.0'] });
    expect((await get(`${berth.url}/v2/mirror/a/manifests/v1.0.0`)).headers.get('docker-content-digest')).toBe(a1.digest);
    for (const layer of a1.layers) expect((await get(`${berth.url}/v2/mirror/a/blobs/${sha256(layer)}`)).status).toBe(200);
    expect((await get(`${berth.url}/v2/mirror/b/manifests/1.0`)).headers.get('docker-content-digest')).toBe(b1.digest);
    expect((await get(`${berth.url}/v2/other/x/manifests/1.0`)).status).toBe(404);
    // Each copy is a state change no request made: it has its own audit line, written as Berth's sync.
    await eventually(async () => {
      const lines = (await readFile(auditFile, 'utf8').catch(() => ''))
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines.filter((line) => line.event === 'sync-copy')).toEqual([
        expect.objectContaining({ event: 'sync-copy', outcome: 'ok', user: 'sync', repository: 'mirror/a', tag: 'v1.0.0', upstream: proxy.url }),
        expect.objectContaining({ event: 'sync-copy', outcome: 'ok', user: 'sync', repository: 'mirror/b', tag: '1.0', upstream: proxy.url }),
      ]);
    });

    proxy.clear();
    const again = await berth.app.periodicSync!.runNow();
    expect(again).toEqual([{ upstream: proxy.url, repositories: 2, copied: 0, unchanged: 2, failed: 0 }]);
    // Unchanged tags cost a HEAD each, never their blobs.
    expect([...proxy.counts.keys()].filter((key) => key.startsWith('GET') && key.includes('/blobs/'))).toEqual([]);

    const a2 = await pushImage(upstream.url, 'team/a', 'v1.0.0');
    const moved = await berth.app.periodicSync!.runNow();
    expect(moved[0]).toMatchObject({ copied: 1, unchanged: 1 });
    expect((await get(`${berth.url}/v2/mirror/a/manifests/v1.0.0`)).headers.get('docker-content-digest')).toBe(a2.digest);
  });

  it('does not pull through an upstream without onDemand', async () => {
    await pushImage(upstream.url, 'team/c', '2.0.0');
    proxy.clear();
    const missing = await get(`${berth.url}/v2/mirror/c/manifests/2.0.0`);
    expect(missing.status).toBe(404);
    expect(proxy.counts.size).toBe(0);
  });
});
