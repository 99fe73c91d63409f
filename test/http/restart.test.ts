import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startBerth } from '../helpers/server.js';
import { pushImage } from '../helpers/registry-api.js';
import { sha256 } from '../helpers/oci.js';

const roots: string[] = [];
afterAll(async () => Promise.all(roots.map((root) => rm(root, { recursive: true, force: true }))));

describe('a restart', () => {
  it('keeps upload sessions: a push started before it finishes after it', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'berth-restart-'));
    roots.push(root);
    const bytes = randomBytes(200_000);
    const before = await startBerth({ root });
    const start = await fetch(`${before.url}/v2/rs/app/blobs/uploads/`, { method: 'POST' });
    const location = start.headers.get('location')!;
    const first = await fetch(`${before.url}${location}`, { method: 'PATCH', body: bytes.subarray(0, 120_000), headers: { 'content-range': '0-119999' } });
    expect(first.status).toBe(202);
    await before.close();

    const after = await startBerth({ root });
    try {
      const status = await fetch(`${after.url}${location}`);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe('0-119999');
      const rest = await fetch(`${after.url}${location}`, { method: 'PATCH', body: bytes.subarray(120_000), headers: { 'content-range': '120000-199999' } });
      expect(rest.status).toBe(202);
      const put = await fetch(`${after.url}${location}?digest=${sha256(bytes)}`, { method: 'PUT' });
      expect(put.status).toBe(201);
      const get = await fetch(`${after.url}/v2/rs/app/blobs/${sha256(bytes)}`);
      expect(Buffer.from(await get.arrayBuffer()).equals(bytes)).toBe(true);
    } finally {
      await after.close();
    }
  });

  it('serves what was pushed before it', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'berth-restart-'));
    roots.push(root);
    const before = await startBerth({ root });
    const image = await pushImage(before.url, 'rs/kept', 'v1');
    await before.close();
    const after = await startBerth({ root });
    try {
      const get = await fetch(`${after.url}/v2/rs/kept/manifests/v1`);
      expect(get.headers.get('docker-content-digest')).toBe(image.digest);
      expect(Buffer.from(await get.arrayBuffer()).equals(image.manifest)).toBe(true);
      expect(await (await fetch(`${after.url}/v2/_catalog`)).json()).toEqual({ repositories: ['rs/kept'] });
    } finally {
      await after.close();
    }
  });
});
