/**
 * Upload sessions as files in `<repo>/.uploads/<uuid>` (zot's layout), so a session survives a
 * restart. Bytes are hashed as they stream to disk; the running hash is kept in memory and rebuilt
 * from the file after a restart. A blob becomes servable only by the rename in `commit`, after its
 * digest has been checked.
 */
import { createReadStream } from 'node:fs';
import { open, stat, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { randomUUID, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { RegistryError } from '../oci/errors.js';
import { newHasher, type Digest, type DigestAlgorithm } from '../oci/digest.js';
import { isUploadId, type Layout } from './layout.js';
import { KeyedMutex } from '../coordination/keyed-mutex.js';
import { FILE_MODE, isNotFound, positionalReader } from './files.js';
import type { SessionReader, UploadStore } from './store.js';
import { untilCut, type Cut } from './cut-body.js';

const WRITE_BATCH = 1024 * 1024;
/**
 * Written bytes between two early flushes to disk (fdatasync, off the event loop) while a body
 * streams in. The commit's fsync then has at most about this much left to flush: done all at the
 * end it took ~200 ms for 256 MiB, during which the client (and a pull through the cache waiting
 * for its last chunk) waited with nothing to do.
 */
const SYNC_EVERY = 16 * 1024 * 1024;

interface RunningHash {
  algorithm: DigestAlgorithm;
  hash: Hash;
  /** Bytes hashed so far; the state is only used when this equals the file size. */
  offset: number;
}

export class FsUploads implements UploadStore {
  private readonly locks = new KeyedMutex();
  private readonly hashes = new Map<string, RunningHash>();

  constructor(
    private readonly layout: Layout,
    private readonly ensureRepository: (name: string) => Promise<void>,
    private readonly adoptBlob: (name: string, digest: Digest, file: string) => Promise<void>,
  ) {}

  private file(name: string, id: string): string {
    if (!isUploadId(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid: id });
    return this.layout.upload(name, id);
  }

  async create(name: string): Promise<{ id: string; offset: number }> {
    await this.ensureRepository(name);
    const id = randomUUID();
    const handle = await open(this.layout.upload(name, id), 'wx', FILE_MODE);
    await handle.close();
    this.hashes.set(this.key(name, id), { algorithm: 'sha256', hash: newHasher('sha256'), offset: 0 });
    return { id, offset: 0 };
  }

  /** Under the session's lock: a request still saving what a cut body sent is waited for. */
  offset(name: string, id: string): Promise<number> {
    return this.locks.run(this.key(name, id), () => this.size(name, id));
  }

  private key(name: string, id: string): string {
    return `${name}\0${id}`;
  }

  private async size(name: string, id: string): Promise<number> {
    try {
      return (await stat(this.file(name, id))).size;
    } catch (error) {
      if (isNotFound(error)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid: id });
      throw error;
    }
  }

  append(name: string, id: string, body: Readable, start?: number): Promise<number> {
    return this.locks.run(this.key(name, id), () => this.appendLocked(name, id, body, start));
  }

  private async appendLocked(name: string, id: string, body: Readable, start?: number): Promise<number> {
    const file = this.file(name, id);
    const offset = await this.size(name, id);
    if (start !== undefined && start !== offset) {
      body.resume();
      throw new RegistryError('RANGE_INVALID', { reason: `chunk starts at ${start} but the upload holds ${offset} bytes`, offset });
    }
    const running = await this.runningHash(name, id, 'sha256', offset);
    const cut: Cut = {};
    let written = offset;
    const handle = await open(file, 'r+');
    // Early flushes, one at a time. Their failure fails the append: a write-back error is reported
    // once per open file, and the commit's fsync (on another) might never hear of it.
    let syncing: Promise<void> | undefined;
    let syncFailure: unknown;
    let synced = offset;
    const syncEarly = () => {
      if (syncing || written - synced < SYNC_EVERY) return;
      synced = written;
      syncing = handle.datasync().then(
        () => (syncing = undefined),
        (error: unknown) => {
          syncFailure ??= error;
          syncing = undefined;
        },
      );
    };
    try {
      // Bytes are hashed as they arrive and written in batches of about 1 MiB with one writev:
      // a write per network chunk (64 KiB) made a push cost twice the system calls.
      let batch: Buffer[] = [];
      let batched = 0;
      const flush = async () => {
        if (batched === 0) return;
        const { bytesWritten } = await handle.writev(batch, written);
        // A full disk can cut a write short without an error; going on would leave a hole of
        // zeros that the running hash never saw. Fail as the next write would.
        if (bytesWritten !== batched) throw Object.assign(new Error(`short write: ${bytesWritten} of ${batched} bytes`), { code: 'ENOSPC' });
        written += batched;
        batch = [];
        batched = 0;
        if (syncFailure !== undefined) throw syncFailure;
        syncEarly();
      };
      for await (const chunk of untilCut(body, cut)) {
        running.hash.update(chunk);
        batch.push(chunk);
        batched += chunk.length;
        if (batched >= WRITE_BATCH) await flush();
      }
      await flush();
      await syncing;
      if (syncFailure !== undefined) throw syncFailure;
    } catch (error) {
      // The store failed: undo the partial append so the session stays consistent and resumable from `offset`.
      await syncing;
      this.hashes.delete(this.key(name, id));
      await truncate(file, offset).catch(() => undefined);
      throw error;
    } finally {
      await handle.close();
    }
    running.offset = written;
    // A cut body keeps what arrived (flushed above, hashed in step); the request still fails.
    if (cut.error !== undefined) throw cut.error;
    return written;
  }

  /** The hash of the first `offset` bytes, from memory or (after a restart) by reading the file. */
  private async runningHash(name: string, id: string, algorithm: DigestAlgorithm, offset: number): Promise<RunningHash> {
    const key = this.key(name, id);
    const cached = this.hashes.get(key);
    if (cached && cached.algorithm === algorithm && cached.offset === offset) return cached;
    const hash = newHasher(algorithm);
    if (offset > 0) {
      for await (const chunk of createReadStream(this.file(name, id), { start: 0, end: offset - 1 })) hash.update(chunk as Buffer);
    }
    const running = { algorithm, hash, offset };
    this.hashes.set(key, running);
    return running;
  }

  commit(name: string, id: string, digest: Digest, body?: Readable): Promise<number> {
    return this.locks.run(this.key(name, id), async () => {
      const size = body ? await this.appendLocked(name, id, body) : await this.size(name, id);
      const running = await this.runningHash(name, id, digest.algorithm, size);
      const actual = running.hash.copy().digest('hex');
      if (actual !== digest.hex) {
        throw new RegistryError('DIGEST_INVALID', { digest: digest.value, reason: `uploaded content has digest ${digest.algorithm}:${actual}` });
      }
      const file = this.file(name, id);
      const handle = await open(file, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await this.adoptBlob(name, digest, file);
      this.hashes.delete(this.key(name, id));
      return size;
    });
  }

  /**
   * An open session file: appends only extend it, and a read sees what a write has fully copied,
   * so what a read returns stays as it is; the descriptor still reads it after the commit's rename.
   */
  async openSession(name: string, id: string): Promise<SessionReader> {
    let handle: FileHandle;
    try {
      handle = await open(this.file(name, id), 'r');
    } catch (error) {
      if (isNotFound(error)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid: id });
      throw error;
    }
    return positionalReader(handle);
  }

  cancel(name: string, id: string): Promise<void> {
    return this.locks.run(this.key(name, id), async () => {
      try {
        await unlink(this.file(name, id));
      } catch (error) {
        if (isNotFound(error)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid: id });
        throw error;
      }
      this.hashes.delete(this.key(name, id));
    });
  }
}
