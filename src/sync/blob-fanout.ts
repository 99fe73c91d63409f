/**
 * The clients of one blob download (blob-downloads.ts): each gets the upstream's chunks as they
 * arrive, one step behind, so its last byte and the end follow only the store's commit (the digest
 * checked): a forged or cut blob never reaches a client as a complete answer. The store sets the
 * pace, never a client: one that falls behind (a slow link, a client that unpacks as it reads) stops
 * being fed from memory and reads the upload session file as it is written (on S3, where a session
 * is no file, it goes on from the stored blob once stored); none is cut off for being slow, and one
 * that leaves stops nothing. A client that joins follows the download from its first byte: from the
 * beginning kept in memory (bounded per download and in all), else from the session file.
 */
import { PassThrough } from 'node:stream';
import type { BlobReader, SessionReader } from '../storage/store.js';
import type { PulledBlob } from './sync-types.js';

/**
 * How far a client may fall behind the download before it stops being fed from memory (small:
 * every chunk a client lags holds lives through collections, which cost the download more CPU than
 * the bytes themselves).
 */
const CLIENT_LAG_BYTES = 8 * 1024 * 1024;
/** How much of a download's beginning is kept for clients who join it. */
const REPLAY_BYTES = 32 * 1024 * 1024;
/** How often a client that follows a download in its session file looks for more. */
const FOLLOW_POLL_MS = 20;

/** Bytes of download beginnings kept for joiners across downloads, and how many may be. */
export interface ReplayBudget {
  used: number;
  readonly limit: number;
}

/** One client reading the download. */
interface Reader {
  stream: PassThrough;
  /** The newest chunk, held back one step (the last one waits for the commit). */
  held?: Buffer;
  /** Bytes written to `stream` (not counting `held`). */
  sent: number;
  /** For a joiner: where the beginning replayed to it ends (what it has yet to read of it may add to its lag). */
  replayed: number;
  /**
   * Fell behind (or joined late): no longer fed from memory; it follows the download in its
   * session file where the store has one, else goes on from `sent` once the blob is stored.
   */
  behind: boolean;
  following: boolean;
  gone: boolean;
}

export const nothing = () => undefined;
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves once `out` wants more, or is closed (at once when it already is). */
export const drained = (out: PassThrough) =>
  new Promise<void>((resolve) => {
    if (out.destroyed) return resolve();
    const done = () => {
      out.off('drain', done).off('close', done);
      resolve();
    };
    out.on('drain', done).on('close', done);
  });

const COPY_BUFFER = 256 * 1024;

/**
 * Writes `reader`'s bytes from `from` up to `to` to `out`, waiting for it to drain; stops early
 * when `out` is destroyed (its client left). Each piece is a copy: `out` keeps it past the next read.
 */
export async function copyRange(reader: Pick<BlobReader, 'read'>, from: number, to: number, out: PassThrough, buffer = Buffer.alloc(COPY_BUFFER)): Promise<void> {
  for (let position = from; position < to && !out.destroyed;) {
    const read = await reader.read(buffer.subarray(0, Math.min(buffer.length, to - position)), position);
    if (read <= 0) throw new Error(`the blob ended at ${position} of ${to} bytes`);
    position += read;
    if (!out.write(Buffer.from(buffer.subarray(0, read)))) await drained(out);
  }
}

export class Fanout {
  /** Its clients still reading (one that leaves is dropped with what it held). */
  private readonly readers = new Set<Reader>();
  /** The download's beginning, kept for joiners; undefined once past REPLAY_BYTES (or the budget). */
  private kept: Buffer[] | undefined = [];
  private keptBytes = 0;
  private ended = false;
  private outcome: 'stored' | 'failed' | undefined;
  private readonly settled: Promise<void>;
  private openSession: (() => Promise<SessionReader>) | undefined;

  /**
   * `length` is the upstream's Content-Length; `stored` settles with the store's commit;
   * `copyStored` writes the stored blob from a position to a stream and ends it.
   */
  constructor(
    private readonly length: number | undefined,
    private readonly stored: Promise<void>,
    private readonly replay: ReplayBudget,
    private readonly copyStored: (from: number, out: PassThrough) => Promise<void>,
  ) {
    this.settled = stored.then(nothing, nothing);
  }

  /** The first client's stream, from the first byte. */
  first(): PulledBlob {
    return { size: this.length, body: this.addReader().stream };
  }

  /**
   * A client joining the download in progress, from its first byte; undefined when neither the kept
   * beginning nor the session file can serve it (then it waits for the stored blob).
   */
  follow(): PulledBlob | undefined {
    if (this.kept && !this.ended) {
      const reader = this.addReader();
      this.kept.slice(0, -1).forEach((chunk) => this.feed(reader, chunk));
      reader.replayed = reader.sent;
      reader.held = this.kept.at(-1);
      return { size: this.length, body: reader.stream };
    }
    // Once the body has ended, the commit (fsync, rename) is under way: better wait for it.
    if (this.ended || !this.canFollowFile()) return undefined;
    const late = this.addReader();
    late.behind = true;
    void this.followFile(late, 0);
    return { size: this.length, body: late.stream };
  }

  /** The upstream's next chunk. */
  chunk(chunk: Buffer): void {
    if (this.kept) {
      if (this.keptBytes + chunk.length <= REPLAY_BYTES && this.replay.used + chunk.length <= this.replay.limit) {
        this.kept.push(chunk);
        this.keptBytes += chunk.length;
        this.replay.used += chunk.length;
      } else this.forget();
    }
    for (const reader of this.readers) {
      if (reader.gone || reader.behind) continue;
      if (reader.held) this.feed(reader, reader.held);
      reader.held = chunk;
      // The store sets the pace, never a client: one this far behind stops being fed from memory.
      const unreadReplay = Math.max(0, reader.replayed - (reader.sent - reader.stream.writableLength));
      if (reader.stream.writableLength > CLIENT_LAG_BYTES + unreadReplay) {
        reader.behind = true;
        reader.held = undefined;
        if (this.canFollowFile()) void this.followFile(reader, reader.sent);
      }
    }
  }

  /** The upstream's body ended (or failed): nothing more to keep for joiners. */
  end(): void {
    this.ended = true;
    this.forget();
  }

  /** The store opened the upload session: readers behind follow its file from now on. */
  sessionOpened(open: () => Promise<SessionReader>): void {
    this.openSession = open;
    if (!this.canFollowFile()) return;
    for (const reader of this.readers) if (reader.behind && !reader.following && !reader.gone) void this.followFile(reader, reader.sent);
  }

  /** Stored, so the store found the digest it was asked for: the readers get their last chunk. */
  finish(): void {
    this.outcome = 'stored';
    for (const reader of this.readers) {
      if (reader.gone || reader.following) continue;
      if (reader.behind) void this.copyStored(reader.sent, reader.stream);
      else {
        if (reader.held) this.feed(reader, reader.held);
        reader.stream.end();
      }
    }
  }

  /** The download or its commit failed: every reader's answer ends in error (a cut body). */
  fail(reason: string): void {
    this.outcome = 'failed';
    this.end();
    for (const reader of this.readers) {
      if (reader.gone) continue;
      reader.gone = true;
      reader.stream.destroy(new Error(reason));
    }
  }

  private addReader(): Reader {
    const reader: Reader = { stream: new PassThrough({ highWaterMark: 4 * 1024 * 1024 }), sent: 0, replayed: 0, behind: false, following: false, gone: false };
    reader.stream.on('error', nothing);
    reader.stream.on('close', () => {
      reader.gone = true;
      reader.held = undefined;
      this.readers.delete(reader);
    });
    this.readers.add(reader);
    return reader;
  }

  private feed(reader: Reader, chunk: Buffer): void {
    reader.stream.write(chunk);
    reader.sent += chunk.length;
  }

  private forget(): void {
    this.replay.used -= this.keptBytes;
    this.keptBytes = 0;
    this.kept = undefined;
  }

  /** Following the session file needs its length, to hold the last byte back until the blob is stored. */
  private canFollowFile(): boolean {
    return this.openSession !== undefined && this.length !== undefined && this.outcome === undefined;
  }

  /**
   * Reads the download from its session file from `from` on as the store writes it; the last byte
   * only once the blob is stored (a forged or cut blob still never reaches the reader complete).
   */
  private async followFile(reader: Reader, from: number): Promise<void> {
    reader.following = true;
    const length = this.length!;
    let file: SessionReader | undefined;
    try {
      try {
        file = await this.openSession!();
      } catch {
        // The commit moved the session file away (or a failure removed it): the stored blob, if any.
        await this.stored;
        return void this.copyStored(from, reader.stream);
      }
      const buffer = Buffer.alloc(COPY_BUFFER);
      let position = from;
      // While the download goes on: what the store has written so far, all but the last byte.
      while (this.outcome === undefined && !reader.stream.destroyed) {
        const read = position < length - 1 ? await file.read(buffer.subarray(0, Math.min(buffer.length, length - 1 - position)), position) : 0;
        if (read === 0) await Promise.race([this.settled, pause(FOLLOW_POLL_MS)]);
        else {
          position += read;
          if (!reader.stream.write(Buffer.from(buffer.subarray(0, read)))) await drained(reader.stream);
        }
      }
      if (reader.stream.destroyed || this.outcome === 'failed') return;
      // Stored, its digest checked: the rest, the last byte with it (an empty blob ends only now).
      await this.stored;
      await copyRange(file, position, length, reader.stream, buffer);
      reader.stream.end();
    } catch (error) {
      reader.stream.destroy(error as Error);
    } finally {
      await file?.close().catch(nothing);
    }
  }
}
