/**
 * The hashing thread of upload sessions (src/storage/hash-thread.ts): the digests it reports are
 * those of the file regions in the order they were posted, and a lost thread
 * loses its running hashes loudly (a new generation; a digest asked of it fails) instead of
 * answering for bytes it never saw. With the filesystem store: a session whose hash was lost is
 * rebuilt from its file, and its commit still checks the digest.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../../src/oci/digest.js';
import { RegistryError } from '../../../src/oci/errors.js';
import { FsStore } from '../../../src/storage/fs-store.js';
import { HashThread, hashThread } from '../../../src/storage/hash-thread.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

describe('HashThread', () => {
  it('hashes file regions in the order they were posted (not awaited one by one) and goes on after a digest', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'hash-thread-'));
    roots.push(root);
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(path.join(root, 'file'), bytes);
    const file = await open(path.join(root, 'file'), 'r');
    const thread = new HashThread();
    try {
      await thread.start('a', 'sha256');
      await thread.start('b', 'sha256');
      const regions = [100, 70_000, 1024 * 1024, bytes.length];
      const posted = regions.map((end, index) => thread.region('a', file.fd, regions[index - 1] ?? 0, end - (regions[index - 1] ?? 0)));
      posted.push(thread.region('b', file.fd, 0, 5));
      await Promise.all(posted);
      expect(await thread.digest('a')).toBe(sha256(bytes));
      expect(await thread.digest('b')).toBe(sha256(bytes.subarray(0, 5)));
      await thread.region('b', file.fd, 5, 4);
      expect(await thread.digest('b')).toBe(sha256(bytes.subarray(0, 9)));
      // A region past the end of the file is an error, not a digest of fewer bytes.
      await expect(thread.region('b', file.fd, bytes.length - 1, 2)).rejects.toThrow(/ended before/);
      thread.drop('a');
      await expect(thread.digest('a')).rejects.toThrow(/no running hash/);
    } finally {
      await thread.close();
      await file.close();
    }
  });

  it('a lost thread takes its hashes with it: a new generation, and no digest for what it held', async () => {
    const thread = new HashThread();
    await thread.start('a', 'sha256');
    const before = thread.generation;
    await thread.close();
    expect(thread.generation).toBe(before + 1);
    await expect(thread.digest('a')).rejects.toThrow(/no running hash/);
    await thread.close();
  });

  it('the filesystem store rebuilds a lost hash from the session file, and its commit still checks the digest', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'hash-thread-'));
    roots.push(root);
    const store = new FsStore(root);
    const bytes = randomBytes(2 * 1024 * 1024 + 5);
    const first = bytes.subarray(0, 1024 * 1024 + 3);
    const session = await store.uploads.create('lost/hash');
    expect(await store.uploads.append('lost/hash', session.id, Readable.from([first]))).toBe(first.length);
    await hashThread.close();
    const digest = digestOf(bytes);
    expect(await store.uploads.commit('lost/hash', session.id, digest, Readable.from([bytes.subarray(first.length)]))).toBe(bytes.length);
    expect(await store.statBlob('lost/hash', digest)).toBe(bytes.length);
    // A forged body after a lost hash is refused all the same.
    const forged = await store.uploads.create('lost/hash');
    await store.uploads.append('lost/hash', forged.id, Readable.from([first]));
    await hashThread.close();
    await expect(store.uploads.commit('lost/hash', forged.id, digestOf(randomBytes(8)), Readable.from([Buffer.from('x')]))).rejects.toSatisfy(
      (error: unknown) => error instanceof RegistryError && error.key === 'DIGEST_INVALID',
    );
    await store.close();
  });
});
