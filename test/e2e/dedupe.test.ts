import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { pushBlob } from '../helpers/registry-api.js';

const roots: string[] = [];
afterAll(async () => Promise.all(roots.map((root) => rm(root, { recursive: true, force: true }))));

async function freshRoot(): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'berth-dedupe-'));
  roots.push(root);
  return root;
}

const blobFile = (server: TestServer, repo: string, digest: string) => path.join(server.root, repo, 'blobs/sha256', digest.slice(7));

describe('dedupe', () => {
  it('stores a blob pushed to several repositories once, and deleting it from one leaves the others', async () => {
    const server = await startBerth({ root: await freshRoot() });
    try {
      const bytes = randomBytes(64 * 1024);
      const digest = await pushBlob(server.url, 'dd/one', bytes);
      await pushBlob(server.url, 'dd/two', bytes);
      await pushBlob(server.url, 'dd/three', bytes);
      const [one, two, three] = await Promise.all(['dd/one', 'dd/two', 'dd/three'].map((repo) => stat(blobFile(server, repo, digest))));
      expect(two!.ino).toBe(one!.ino);
      expect(three!.ino).toBe(one!.ino);
      expect(one!.nlink).toBe(3);
      expect((await fetch(`${server.url}/v2/dd/one/blobs/${digest}`, { method: 'DELETE' })).status).toBe(202);
      for (const repo of ['dd/two', 'dd/three']) {
        const get = await fetch(`${server.url}/v2/${repo}/blobs/${digest}`);
        expect(Buffer.from(await get.arrayBuffer()).equals(bytes)).toBe(true);
      }
      expect((await stat(blobFile(server, 'dd/two', digest))).nlink).toBe(2);
      const log = await readFile(path.join(server.root, '_berth/dedupe.jsonl'), 'utf8');
      expect(log).toContain(`{"remove":"${digest}","repository":"dd/one"}`);
    } finally {
      await server.close();
    }
  });

  it('keeps its index across restarts and rebuilds it from disk when it is damaged', async () => {
    const root = await freshRoot();
    let server = await startBerth({ root });
    const bytes = randomBytes(10_000);
    const digest = await pushBlob(server.url, 'dd/a', bytes);
    await server.close();
    await writeFile(path.join(root, '_berth/dedupe.jsonl'), '{"add": broken\n');
    server = await startBerth({ root });
    try {
      await pushBlob(server.url, 'dd/b', bytes);
      expect((await stat(blobFile(server, 'dd/b', digest))).ino).toBe((await stat(blobFile(server, 'dd/a', digest))).ino);
      const rebuilt = await readFile(path.join(root, '_berth/dedupe.jsonl'), 'utf8');
      expect(rebuilt).toContain(`{"add":"${digest}","repository":"dd/a"}`);
      expect(rebuilt).toContain(`{"add":"${digest}","repository":"dd/b"}`);
    } finally {
      await server.close();
    }
  });

  it('leaves nothing in .uploads when a repository is sent a blob it already holds as a link', async () => {
    const server = await startBerth({ root: await freshRoot() });
    try {
      const bytes = randomBytes(30_000);
      const digest = await pushBlob(server.url, 'dd/base', bytes);
      await pushBlob(server.url, 'dd/app', bytes);
      // Again, as every push of an image with a shared base layer does: rename(2) of one hard link
      // onto another of the same file does nothing, so the linked temp file used to stay behind.
      await pushBlob(server.url, 'dd/app', bytes);
      await pushBlob(server.url, 'dd/base', bytes);
      for (const repo of ['dd/base', 'dd/app']) expect(await readdir(path.join(server.root, repo, '.uploads')), repo).toEqual([]);
      expect((await stat(blobFile(server, 'dd/app', digest))).nlink).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('copies instead when dedupe is off', async () => {
    const server = await startBerth({ root: await freshRoot(), config: { storage: { dedupe: false } } });
    try {
      const bytes = randomBytes(1000);
      const digest = await pushBlob(server.url, 'nd/a', bytes);
      await pushBlob(server.url, 'nd/b', bytes);
      expect((await stat(blobFile(server, 'nd/a', digest))).ino).not.toBe((await stat(blobFile(server, 'nd/b', digest))).ino);
      const mounted = await fetch(`${server.url}/v2/nd/c/blobs/uploads/?mount=${digest}&from=nd/a`, { method: 'POST' });
      expect(mounted.status).toBe(201);
      expect((await stat(blobFile(server, 'nd/c', digest))).nlink).toBe(1);
    } finally {
      await server.close();
    }
  });
});

describe('dedupe and a damaged copy', () => {
  it('does not link a fresh, verified upload to a holder whose copy has the wrong size', async () => {
    const server = await startBerth({ root: await freshRoot() });
    try {
      const bytes = randomBytes(50_000);
      const digest = await pushBlob(server.url, 'dmg/a', bytes);
      await writeFile(blobFile(server, 'dmg/a', digest), bytes.subarray(0, 1000));
      await pushBlob(server.url, 'dmg/b', bytes);
      expect((await stat(blobFile(server, 'dmg/b', digest))).ino).not.toBe((await stat(blobFile(server, 'dmg/a', digest))).ino);
      const get = await fetch(`${server.url}/v2/dmg/b/blobs/${digest}`);
      expect(Buffer.from(await get.arrayBuffer()).equals(bytes)).toBe(true);
    } finally {
      await server.close();
    }
  });
});
