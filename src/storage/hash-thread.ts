/**
 * The running digests of upload sessions, computed on a worker thread. On the event loop, hashing
 * took turns with everything else a transfer does there (socket reads and writes, the streams): a
 * pull through the cache (which hashes, stores and serves each byte) ran at ~1.6x its rate once
 * the hashing was taken out, with the same CPU spent. Here the bytes still go through one hash per
 * session in order (one thread; messages arrive in the order they were posted), and a digest is
 * only ever read after every region before it was hashed.
 *
 * The thread hashes what was written: each region of the session file once its write has
 * completed, read back (from the page cache) into the thread's own buffer through the file
 * descriptor the caller holds open until the answer comes. Handing the bytes over instead cost the
 * event loop a copy of each (the chunks may be views into larger buffers, which a clone copies
 * whole, and they are still being written), ~6% of a cold pull's main-thread time; and the digest
 * checked at commit is that of the bytes on disk, not only of those that arrived.
 *
 * The thread starts with the first upload and keeps the process alive only while an answer is due.
 * If it dies, every running hash goes with it: `generation` changes, and the uploads rebuild theirs
 * from their files as they would after a restart.
 */
import { Worker } from 'node:worker_threads';
import type { DigestAlgorithm } from '../oci/digest.js';

/**
 * The worker: one running hash per session key; each message answered with its id once done. Its
 * reads are synchronous: they are this thread's whole work, and the event loop is elsewhere.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { readSync } = require('node:fs');
const hashes = new Map();
const buffer = Buffer.allocUnsafe(1024 * 1024);
const running = (key) => {
  const hash = hashes.get(key);
  if (!hash) throw new Error('no running hash for this upload session');
  return hash;
};
const hashRegion = (hash, fd, position, length) => {
  for (let done = 0; done < length; ) {
    const read = readSync(fd, buffer, 0, Math.min(buffer.length, length - done), position + done);
    if (read === 0) throw new Error('the upload file ended before the bytes to hash');
    hash.update(buffer.subarray(0, read));
    done += read;
  }
};
parentPort.on('message', ({ op, id, key, algorithm, fd, position, length }) => {
  try {
    if (op === 'start') hashes.set(key, createHash(algorithm));
    else if (op === 'region') hashRegion(running(key), fd, position, length);
    else if (op === 'drop') hashes.delete(key);
    else if (op === 'digest') return parentPort.postMessage({ id, hex: running(key).copy().digest('hex') });
    parentPort.postMessage({ id });
  } catch (error) {
    parentPort.postMessage({ id, error: String((error && error.message) || error) });
  }
});
`;

type Message = { op: 'start'; key: string; algorithm: DigestAlgorithm } | { op: 'region'; key: string; fd: number; position: number; length: number } | { op: 'digest' | 'drop'; key: string };

interface Answer {
  id: number;
  hex?: string;
  error?: string;
}

export class HashThread {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (hex: string | undefined) => void; reject: (error: Error) => void }>();
  /** Changes whenever the thread is lost: running hashes started before then are gone. */
  generation = 0;

  /** Starts (or restarts) the running hash of `key`. */
  async start(key: string, algorithm: DigestAlgorithm): Promise<void> {
    await this.call({ op: 'start', key, algorithm });
  }

  /**
   * Adds `length` bytes of the open file `fd`, from `position`, to the running hash of `key`;
   * resolves once hashed. `fd` must stay open (and those bytes written) until then.
   */
  async region(key: string, fd: number, position: number, length: number): Promise<void> {
    await this.call({ op: 'region', key, fd, position, length });
  }

  /** The hex digest of what `key` has hashed so far (its hash goes on). */
  async digest(key: string): Promise<string> {
    const hex = await this.call({ op: 'digest', key });
    if (hex === undefined) throw new Error('the hashing thread answered without a digest');
    return hex;
  }

  /** Forgets the running hash of `key` (nothing waits for it). */
  drop(key: string): void {
    if (this.worker) this.call({ op: 'drop', key }).catch(() => undefined);
  }

  /** Stops the thread (running hashes are lost, as when it dies); the next call starts another. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.lose(worker, new Error('the hashing thread was stopped'));
    await worker.terminate();
  }

  private call(message: Message): Promise<string | undefined> {
    const worker = this.thread();
    const id = this.nextId++;
    const answer = new Promise<string | undefined>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    if (this.waiting.size === 1) worker.ref();
    worker.postMessage({ ...message, id });
    return answer;
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on('message', ({ id, hex, error }: Answer) => {
      const waiter = this.waiting.get(id);
      if (!waiter) return;
      this.waiting.delete(id);
      if (this.waiting.size === 0) worker.unref();
      if (error !== undefined) waiter.reject(new Error(error));
      else waiter.resolve(hex);
    });
    worker.on('error', (error) => this.lose(worker, error));
    worker.on('exit', (code) => this.lose(worker, new Error(`the hashing thread exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  /** The thread is gone: so are its running hashes, and whatever waited on it fails. */
  private lose(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.generation++;
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }
}

/** The process's hashing thread: every filesystem upload session hashes through it. */
export const hashThread = new HashThread();
