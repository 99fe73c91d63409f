/**
 * The hashing thread of upload sessions (src/storage/hash-thread.ts): the digests it reports are
 * those of the bytes in the order they were posted, whatever buffers they came in, and a lost thread
 * loses its running hashes loudly (a new generation; a digest asked of it fails) instead of
 * answering for bytes it never saw. With the filesystem store: a session whose hash was lost is
 * rebuilt from its file, and its commit still checks the digest.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
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
  it('hashes batches in the order they were posted, from views into larger buffers, and goes on after a digest', async () => {
    const thread = new HashThread();
    try {
      const bytes = randomBytes(3 * 1024 * 1024 + 17);
      // Views into one big buffer: a clone would carry the whole buffer, not the view.
      const pieces = [bytes.subarray(0, 100), bytes.subarray(100, 70_000), bytes.subarray(70_000, 1024 * 1024)];
      await thread.start('a', 'sha256');
      await thread.start('b', 'sha256');
      const posted = [thread.update('a', pieces, 1024 * 1024), thread.update('b', [bytes.subarray(0, 5)], 5)];
      // Not awaited one by one: the order of posting is the order of hashing.
      posted.push(thread.update('a', [bytes.subarray(1024 * 1024)], bytes.length - 1024 * 1024));
      await Promise.all(posted);
      expect(await thread.digest('a')).toBe(sha256(bytes));
      expect(await thread.digest('b')).toBe(sha256(bytes.subarray(0, 5)));
      await thread.update('b', [bytes.subarray(5, 9)], 4);
      expect(await thread.digest('b')).toBe(sha256(bytes.subarray(0, 9)));
      thread.drop('a');
      await expect(thread.digest('a')).rejects.toThrow(/no running hash/);
    } finally {
      await thread.close();
    }
  });

  it('a lost thread takes its hashes with it: a new generation, and no digest for what it held', async () => {
    const thread = new HashThread();
    await thread.start('a', 'sha256');
    await thread.update('a', [Buffer.from('abc')], 3);
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
