/**
 * The running digests of upload sessions, computed on a worker thread. On the event loop, hashing
 * took turns with everything else a transfer does there (socket reads and writes, the streams): a
 * pull through the cache (which hashes, stores and serves each byte) ran at ~1.6x its rate once
 * the hashing was taken out, with the same CPU spent. Here the bytes still go through one hash per
 * session in order (one thread; messages arrive in the order they were posted), and a digest is
 * only ever read after every batch before it was hashed.
 *
 * Each batch is copied once into a buffer that is handed over (transferred, not cloned) and handed
 * back once hashed, for the next batch: the chunks themselves may be views into larger buffers,
 * which a clone would copy whole, and they are still being written to the file; a fresh buffer per
 * batch cost more than the hashing saved (new pages, zeroed, for every MiB). The caller keeps at
 * most a batch or two in flight (it awaits each update before posting the one after next), so the
 * copies stay bounded; SPARE_BUFFERS are kept between transfers.
 *
 * The thread starts with the first upload and keeps the process alive only while an answer is due.
 * If it dies, every running hash goes with it: `generation` changes, and the uploads rebuild theirs
 * from their files as they would after a restart.
 */
import { Worker } from 'node:worker_threads';
import type { DigestAlgorithm } from '../oci/digest.js';

/** The worker: one running hash per session key; each message answered with its id once done. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
const running = (key) => {
  const hash = hashes.get(key);
  if (!hash) throw new Error('no running hash for this upload session');
  return hash;
};
parentPort.on('message', ({ op, id, key, algorithm, bytes, length }) => {
  try {
    if (op === 'start') hashes.set(key, createHash(algorithm));
    else if (op === 'update') {
      running(key).update(new Uint8Array(bytes, 0, length));
      return parentPort.postMessage({ id, spare: bytes }, [bytes]);
    } else if (op === 'drop') hashes.delete(key);
    else if (op === 'digest') return parentPort.postMessage({ id, hex: running(key).copy().digest('hex') });
    parentPort.postMessage({ id });
  } catch (error) {
    parentPort.postMessage({ id, error: String((error && error.message) || error) });
  }
});
`;

type Message = { op: 'start'; key: string; algorithm: DigestAlgorithm } | { op: 'update'; key: string; bytes: ArrayBuffer; length: number } | { op: 'digest' | 'drop'; key: string };

interface Answer {
  id: number;
  hex?: string;
  error?: string;
  /** An update's buffer, handed back. */
  spare?: ArrayBuffer;
}

/** The size of the reused batch buffers: a write batch (1 MiB) and the network chunk that ended it. */
const SPARE_BYTES = 1024 * 1024 + 256 * 1024;
/** Buffers kept for reuse: two batches in flight for each of two uploads at once. */
const SPARE_BUFFERS = 4;

export class HashThread {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (hex: string | undefined) => void; reject: (error: Error) => void }>();
  private readonly spares: ArrayBuffer[] = [];
  /** Changes whenever the thread is lost: running hashes started before then are gone. */
  generation = 0;

  /** Starts (or restarts) the running hash of `key`. */
  async start(key: string, algorithm: DigestAlgorithm): Promise<void> {
    await this.call({ op: 'start', key, algorithm });
  }

  /** Adds `chunks` (`bytes` long in all) to the running hash of `key`; resolves once hashed. */
  async update(key: string, chunks: readonly Uint8Array[], bytes: number): Promise<void> {
    const buffer = bytes <= SPARE_BYTES ? (this.spares.pop() ?? new ArrayBuffer(SPARE_BYTES)) : new ArrayBuffer(bytes);
    const copy = new Uint8Array(buffer);
    let at = 0;
    for (const chunk of chunks) {
      copy.set(chunk, at);
      at += chunk.length;
    }
    await this.call({ op: 'update', key, bytes: buffer, length: bytes }, [buffer]);
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

  private call(message: Message, transfer: ArrayBuffer[] = []): Promise<string | undefined> {
    const worker = this.thread();
    const id = this.nextId++;
    const answer = new Promise<string | undefined>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    if (this.waiting.size === 1) worker.ref();
    worker.postMessage({ ...message, id }, transfer);
    return answer;
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on('message', ({ id, hex, error, spare }: Answer) => {
      if (spare?.byteLength === SPARE_BYTES && this.spares.length < SPARE_BUFFERS) this.spares.push(spare);
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
