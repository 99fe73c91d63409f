/**
 * containerd's `?ns=<registry>` with two on-demand upstreams that map the same repository names
 * (no destinations): each registry's clients get that registry's image, never the other's, even
 * when Berth holds the other's under the same name and tag, and even when their registry is down.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANIFEST_ACCEPT, pushImage, type PushedImage } from '../helpers/registry-api.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.js';
import { startDockerRegistry, type UpstreamRegistry } from '../helpers/upstream-registry.js';

const get = (url: string) => fetch(url, { headers: { accept: MANIFEST_ACCEPT } });

describe('pull-through cache: one repository name, two registries (?ns=)', () => {
  let registryA: UpstreamRegistry;
  let registryB: UpstreamRegistry;
  let proxyB: CountingProxy;
  let berth: TestServer;
  let imageA: PushedImage;
  let imageB: PushedImage;
  let nsA: string;
  let nsB: string;
  let stoppedB = false;
  let root: string;

  beforeAll(async () => {
    registryA = await startDockerRegistry();
    registryB = await startDockerRegistry();
    proxyB = await startCountingProxy(registryB.url);
    imageA = await pushImage(registryA.url, 'org/app', 'v1');
    imageB = await pushImage(registryB.url, 'org/app', 'v1');
    expect(imageA.digest).not.toBe(imageB.digest);
    nsA = new URL(registryA.url).host;
    nsB = new URL(proxyB.url).host;
    root = await mkdtemp(path.join(tmpdir(), 'berth-sync-ns-'));
    berth = await start();
  }, 60_000);
  const start = () =>
    startBerth({
      root,
      config: {
        http: { accessControl: { repositories: { '**': { anonymousPolicy: ['read'] } } } },
        extensions: {
          sync: {
            enable: true,
            registries: [
              { urls: [registryA.url], onDemand: true, manifestCheckInterval: '1h', maxRetries: 0, retryDelay: '10ms' },
              { urls: [proxyB.url], onDemand: true, manifestCheckInterval: '1h', maxRetries: 0, retryDelay: '10ms' },
            ],
          },
        },
      },
      captureLog: true,
    });
  afterAll(async () => {
    await berth?.close();
    await rm(root, { recursive: true, force: true });
    if (!stoppedB) await proxyB?.stop();
    await registryA?.stop();
    await registryB?.stop();
  });

  const settled = () => berth.app.pullThrough!.settled();
  const digestOf = async (ns: string) => {
    const answer = await get(`${berth.url}/v2/org/app/manifests/v1?ns=${encodeURIComponent(ns)}`);
    return answer.status === 200 ? answer.headers.get('docker-content-digest') : `status ${answer.status}`;
  };

  it("answers each registry's clients with that registry's image, whatever Berth holds under the name", async () => {
    expect(await digestOf(nsA)).toBe(imageA.digest);
    await settled();
    // Berth holds A's image as org/app:v1, confirmed within the interval; B's clients still get B's.
    expect(await digestOf(nsB)).toBe(imageB.digest);
    await settled();
    // And back: A's clients get A's again (the stored tag follows whoever asked last).
    expect(await digestOf(nsA)).toBe(imageA.digest);
    await settled();
    // Without ?ns= (docker, podman), the copy Berth holds, as ever.
    expect((await get(`${berth.url}/v2/org/app/manifests/v1`)).headers.get('docker-content-digest')).toBe(imageA.digest);
  });

  it("asks B (a HEAD) after a restart before serving B's clients the copy it holds, and serves it when B says it is the same", async () => {
    expect(await digestOf(nsB)).toBe(imageB.digest);
    await settled();
    await berth.close();
    berth = await start();
    proxyB.clear();
    expect(await digestOf(nsB)).toBe(imageB.digest);
    expect(proxyB.count('HEAD', '/v2/org/app/manifests/v1')).toBe(1);
    expect(proxyB.count('GET', '/v2/org/app/manifests/v1')).toBe(0);
  });

  it("serves B's clients B's copy from storage within the interval, and never A's image when B is down", async () => {
    expect(await digestOf(nsB)).toBe(imageB.digest);
    await settled();
    proxyB.clear();
    expect(await digestOf(nsB)).toBe(imageB.digest);
    expect(proxyB.counts.size).toBe(0);
    // Now Berth holds A's image under the name: B cannot vouch for it, so B's clients get an error, not A's image.
    expect(await digestOf(nsA)).toBe(imageA.digest);
    await settled();
    await proxyB.stop();
    stoppedB = true;
    expect(await digestOf(nsB)).toMatch(/^status 5\d\d$/);
    expect(await digestOf(nsA)).toBe(imageA.digest);
  });
});
