/**
 * Upload sessions as files in `<repo>/.uploads/<uuid>` (zot's layout), so a session survives a
 * restart. Bytes are hashed as they stream to disk; the running hash is kept in memory and rebuilt
 * from the file after a restart. A blob becomes servable only by the rename in `commit`, after its
 * digest has been checked. The hashing runs on a thread of its own (hash-thread.ts), beside the
 * file writes, while the event loop goes on reading the next batch.
 */
import { open, stat, truncate, unlink } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { RegistryError } from '../oci/errors.js';
import type { Digest, DigestAlgorithm } from '../oci/digest.js';
import { isUploadId, type Layout } from './layout.js';
import { KeyedMutex } from '../coordination/keyed-mutex.js';
import { FILE_MODE, isNotFound } from './files.js';
import type { UploadStore } from './store.js';
import { untilCut, type Cut } from './cut-body.js';
import { hashThread } from './hash-thread.js';

const WRITE_BATCH = 1024 * 1024;
/**
 * Written bytes between two early flushes to disk (fdatasync, off the event loop) while a body
 * streams in. The commit's fsync then has at most about this much left to flush: done all at the
 * end it took ~200 ms for 256 MiB, during which the client (and a pull through the cache waiting
 * for its last chunk) waited with nothing to do.
 */
const SYNC_EVERY = 16 * 1024 * 1024;

/** A session's running hash (kept on the hashing thread under the session's key). */
interface RunningHash {
  algorithm: DigestAlgorithm;
  /** Bytes hashed so far; the state is only used when this equals the file size. */
  offset: number;
  /** The hashing thread's generation it was started in (a lost thread lost it). */
  generation: number;
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
    await hashThread.start(this.key(name, id), 'sha256');
    this.hashes.set(this.key(name, id), { algorithm: 'sha256', offset: 0, generation: hashThread.generation });
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
    const key = this.key(name, id);
    const running = await this.runningHash(name, id, 'sha256', offset);
    const cut: Cut = {};
    let written = offset;
    const handle = await open(file, 'r+');
    // Bytes are written in batches of about 1 MiB with one writev (a write per network chunk, 64
    // KiB, made a push cost twice the system calls), then hashed on the hashing thread from the
    // file. One batch is in flight while the next is gathered, so reading the body, writing the
    // file and hashing overlap instead of taking turns; batches are hashed in order.
    let inFlight: Promise<void> | undefined;
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
      let batch: Buffer[] = [];
      let batched = 0;
      const flush = async () => {
        if (batched === 0) return;
        const [chunks, bytes] = [batch, batched];
        batch = [];
        batched = 0;
        await inFlight;
        const position = written;
        inFlight = (async () => {
          const { bytesWritten } = await handle.writev(chunks, position);
          // A full disk can cut a write short without an error; going on would leave a hole of
          // zeros that the running hash never saw. Fail as the next write would.
          if (bytesWritten !== bytes) throw Object.assign(new Error(`short write: ${bytesWritten} of ${bytes} bytes`), { code: 'ENOSPC' });
          await hashThread.region(key, handle.fd, position, bytes);
          written += bytes;
          if (syncFailure !== undefined) throw syncFailure;
          syncEarly();
        })();
        inFlight.catch(() => undefined);
      };
      for await (const chunk of untilCut(body, cut)) {
        batch.push(chunk);
        batched += chunk.length;
        if (batched >= WRITE_BATCH) await flush();
      }
      await flush();
      await inFlight;
      await syncing;
      if (syncFailure !== undefined) throw syncFailure;
    } catch (error) {
      // The store failed: undo the partial append so the session stays consistent and resumable from `offset`.
      await inFlight?.catch(() => undefined);
      await syncing;
      this.forget(key);
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

  /** The hash of the first `offset` bytes, kept as they were written or (after a restart) rebuilt from the file. */
  private async runningHash(name: string, id: string, algorithm: DigestAlgorithm, offset: number): Promise<RunningHash> {
    const key = this.key(name, id);
    const cached = this.hashes.get(key);
    if (cached && cached.algorithm === algorithm && cached.offset === offset && cached.generation === hashThread.generation) return cached;
    this.hashes.delete(key);
    await hashThread.start(key, algorithm);
    if (offset > 0) {
      const handle = await open(this.file(name, id), 'r');
      try {
        await hashThread.region(key, handle.fd, 0, offset);
      } finally {
        await handle.close();
      }
    }
    const running = { algorithm, offset, generation: hashThread.generation };
    this.hashes.set(key, running);
    return running;
  }

  /** Drops a session's running hash (rebuilt from its file if it is needed again). */
  private forget(key: string): void {
    this.hashes.delete(key);
    hashThread.drop(key);
  }

  commit(name: string, id: string, digest: Digest, body?: Readable): Promise<number> {
    return this.locks.run(this.key(name, id), async () => {
      const size = body ? await this.appendLocked(name, id, body) : await this.size(name, id);
      await this.runningHash(name, id, digest.algorithm, size);
      const actual = await hashThread.digest(this.key(name, id));
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
      this.forget(this.key(name, id));
      return size;
    });
  }

  cancel(name: string, id: string): Promise<void> {
    return this.locks.run(this.key(name, id), async () => {
      try {
        await unlink(this.file(name, id));
      } catch (error) {
        if (isNotFound(error)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid: id });
        throw error;
      }
      this.forget(this.key(name, id));
    });
  }
}
