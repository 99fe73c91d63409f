/** Health, metrics, audit, rate limits and proxies: what the operator sees of a running Berth. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { emptyAndDeleteBucket } from '../helpers/services.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { errorCode, pushImage } from '../helpers/registry-api.js';

let server: TestServer | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await server?.close();
  server = undefined;
});
afterAll(async () => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-ops-'));
  dirs.push(dir);
  return dir;
}

/** Value of one sample in the Prometheus text format, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const match = /^([^{\s]+)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1], pair[2]]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

describe('health', () => {
  it('answers /livez, /startupz and /readyz, and /readyz fails when storage is not writable', async () => {
    server = await startBerth();
    for (const target of ['/livez', '/startupz']) {
      const response = await fetch(`${server.url}${target}`);
      expect(response.status, target).toBe(200);
      expect(await response.text()).toBe('ok\n');
    }
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    // Each backend by name: the disk, or the bucket and Redis the replicas share.
    expect(await ready.text()).toBe(server.bucket ? `ok\ns3 bucket ${server.bucket}: ok\nredis: ok\n` : 'ok\nstorage: ok\n');
    if (server.bucket) {
      await emptyAndDeleteBucket(server.bucket);
    } else {
      // Where Berth keeps its state is now a file: nothing can be written there.
      await rm(path.join(server.root, '_berth'), { recursive: true, force: true });
      await writeFile(path.join(server.root, '_berth'), 'in the way');
    }
    const broken = await fetch(`${server.url}/readyz`);
    expect(broken.status).toBe(503);
    const body = (await broken.json()) as { errors: Array<{ code: string; detail: string }> };
    expect(body.errors[0]!.code).toBe('UNAVAILABLE');
    expect(body.errors[0]!.detail).toMatch(server.bucket ? /^not ready: s3 bucket .*: .*; redis: ok$/ : /^not ready: storage: /);
    expect((await fetch(`${server.url}/livez`)).status).toBe(200);
  });
});

describe('metrics', () => {
  it('exposes request, storage, GC and sign-in figures in the Prometheus format, to those accessControl.metrics allows', async () => {
    const htpasswd = await writeHtpasswd({ ci: 'pw', prom: 'scrape' });
    server = await startBerth({
      config: {
        extensions: { metrics: { enable: true, prometheus: { path: '/internal/metrics' } } },
        http: {
          auth: { htpasswd: { path: htpasswd } },
          accessControl: { repositories: { '**': { defaultPolicy: ['read', 'create', 'delete'] } }, metrics: { users: ['prom'] } },
        },
      },
    });
    const ci = { authorization: basicAuth('ci', 'pw') };
    const image = await pushImage(server.url, 'metrics/app', 'v1', { headers: ci });
    await fetch(`${server.url}/v2/metrics/app/manifests/v1`, { headers: ci });
    await fetch(`${server.url}/v2/`, { headers: { authorization: basicAuth('ci', 'wrong') } });
    await server.app.maintenance.gc.collect();

    expect((await fetch(`${server.url}/internal/metrics`)).status).toBe(401);
    expect((await fetch(`${server.url}/internal/metrics`, { headers: ci })).status).toBe(403);
    const response = await fetch(`${server.url}/internal/metrics`, { headers: { authorization: basicAuth('prom', 'scrape') } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(sample(text, 'berth_http_requests_total', { method: 'PUT', route: '/v2/:name/manifests/:reference', status: '201' })).toBe(1);
    expect(sample(text, 'berth_http_request_duration_seconds_count', { method: 'GET', route: '/v2/:name/manifests/:reference', status: '200' })).toBe(1);
    expect(sample(text, 'berth_http_sent_bytes_total', { route: '/v2/:name/manifests/:reference' })).toBe(image.manifest.length);
    expect(sample(text, 'berth_repository_tags', { repository: 'metrics/app' })).toBe(1);
    expect(sample(text, 'berth_repository_manifests', { repository: 'metrics/app' })).toBe(1);
    const bytes = image.manifest.length + image.config.length + image.layers.reduce((sum, layer) => sum + layer.length, 0);
    expect(sample(text, 'berth_repository_bytes', { repository: 'metrics/app' })).toBe(bytes);
    expect(sample(text, 'berth_repository_last_push_seconds', { repository: 'metrics/app' })).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(sample(text, 'berth_authentications_total', { method: 'htpasswd', result: 'success' })).toBeGreaterThan(3);
    expect(sample(text, 'berth_authentications_total', { method: 'basic', result: 'failure' })).toBe(1);
    expect(sample(text, 'berth_uploads_in_progress')).toBe(0);
    expect(sample(text, 'berth_process_resident_memory_bytes')).toBeGreaterThan(0);
    // The default path is not served when another is configured, and the config refuses /v2 paths.
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
  });
});

describe('audit log', () => {
  it('writes one line per push, delete and refused push, with who, what, where and the result', async () => {
    const dir = await tempDir();
    const audit = path.join(dir, 'audit.log');
    const htpasswd = await writeHtpasswd({ ci: 'pw', reader: 'pw2' });
    server = await startBerth({
      config: {
        log: { audit },
        http: { auth: { htpasswd: { path: htpasswd } }, accessControl: { repositories: { '**': { policies: [{ users: ['ci'], actions: ['read', 'create', 'delete'] }], defaultPolicy: ['read'] } } } },
      },
    });
    const image = await pushImage(server.url, 'audit/app', 'v1', { headers: { authorization: basicAuth('ci', 'pw') } });
    expect((await fetch(`${server.url}/v2/audit/app/manifests/${image.digest}`, { method: 'DELETE', headers: { authorization: basicAuth('ci', 'pw') } })).status).toBe(202);
    expect((await fetch(`${server.url}/v2/audit/app/blobs/uploads/`, { method: 'POST', headers: { authorization: basicAuth('reader', 'pw2') } })).status).toBe(403);
    await fetch(`${server.url}/v2/audit/app/tags/list`, { headers: { authorization: basicAuth('ci', 'pw') } });
    await server.close();
    server = undefined;
    const lines = (await readFile(audit, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const push = lines.find((line) => line.event === 'manifest-push');
    expect(push).toMatchObject({ user: 'ci', via: 'htpasswd', method: 'PUT', repository: 'audit/app', tag: 'v1', digest: image.digest, status: 201, outcome: 'ok', ip: '127.0.0.1' });
    expect(push.time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(lines.find((line) => line.event === 'manifest-delete')).toMatchObject({ user: 'ci', repository: 'audit/app', digest: image.digest, status: 202, outcome: 'ok' });
    expect(lines.find((line) => line.user === 'reader')).toMatchObject({ event: 'blob-upload-start', repository: 'audit/app', status: 403, outcome: 'refused' });
    expect(lines.some((line) => line.method === 'GET')).toBe(false);
    // The config and two layers: each a start and a commit.
    expect(lines.filter((line) => line.event === 'blob-upload-start' && line.user === 'ci' && line.outcome === 'ok')).toHaveLength(3);
    expect(lines.filter((line) => line.event === 'blob-upload-commit' && line.user === 'ci' && line.outcome === 'ok')).toHaveLength(3);
  });
});

describe('rate limits', () => {
  it('answers 429 TOOMANYREQUESTS beyond http.ratelimit', async () => {
    server = await startBerth({ config: { http: { ratelimit: { rate: 100, methods: [{ method: 'DELETE', rate: 2 }] } } } });
    const statuses = await Promise.all(Array.from({ length: 10 }, () => fetch(`${server!.url}/v2/rl/app/manifests/latest`, { method: 'DELETE' }).then((response) => response.status)));
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(7);
    expect(statuses.filter((status) => status === 404).length).toBeGreaterThanOrEqual(1);
    const limited = await fetch(`${server.url}/v2/rl/app/manifests/latest`, { method: 'DELETE' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(await errorCode(limited)).toBe('TOOMANYREQUESTS');
  });
  // Limits on failed sign-ins (per account and address): test/http/sign-in-limits.test.ts.
});

describe('behind a proxy', () => {
  it('takes the client address from X-Forwarded-For only from trusted proxies', async () => {
    const dir = await tempDir();
    for (const trustProxy of [['127.0.0.1'], undefined]) {
      const audit = path.join(dir, `audit-${String(trustProxy)}.log`);
      server = await startBerth({ config: { log: { audit } }, ...(trustProxy ? { trustProxy } : {}) });
      await fetch(`${server.url}/v2/proxy/app/blobs/uploads/`, { method: 'POST', headers: { 'x-forwarded-for': '203.0.113.7' } });
      await server.close();
      server = undefined;
      const line = JSON.parse((await readFile(audit, 'utf8')).trim().split('\n')[0]!);
      expect(line.ip).toBe(trustProxy ? '203.0.113.7' : '127.0.0.1');
    }
  });
});
