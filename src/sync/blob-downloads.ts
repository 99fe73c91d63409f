/**
 * The pull-through cache's blob downloads: one upstream fetch per blob however many ask, streamed to
 * the clients while it is stored through an upload session. The store checks the digest and the
 * length as the bytes stream in; each client's last byte and the end follow only its commit, so a
 * forged or cut blob never reaches a client as a complete answer and is never kept. The store sets
 * the pace, never a client: one that falls behind the download (a slow link, a client that unpacks
 * as it reads) stops being fed from memory and reads the session file as it is written (on S3, where
 * a session is no file, it goes on from the stored blob once stored); none is cut off for being slow,
 * and one that leaves stops nothing. A client that joins a download in progress follows it from its
 * first byte while the beginning is kept in memory (bounded per download and in all), then from the
 * session file; later ones read the stored blob.
 */
import { PassThrough, type Readable } from 'node:stream';
import { RegistryError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { Registry } from '../registry/registry.js';
import type { BlobReader, SessionReader } from '../storage/store.js';
import type { PulledBlob, Source, SyncLog, SyncObserver } from './sync-types.js';
import { UpstreamError } from './upstream.js';

/**
 * How far a client may fall behind the download before it stops being fed from memory (small:
 * every chunk a client lags holds lives through collections, which cost the download more CPU than
 * the bytes themselves).
 */
const CLIENT_LAG_BYTES = 8 * 1024 * 1024;
/** How much of a download's beginning is kept for clients who join it, per download and in all. */
const REPLAY_BYTES = 32 * 1024 * 1024;
const REPLAY_BYTES_IN_ALL = 128 * 1024 * 1024;
/** How often a client that follows a download in its session file looks for more. */
const FOLLOW_POLL_MS = 20;
/** Upstream chunks (~64 KiB each) waiting for the store before the download pauses: about 1 MiB. */
const STORE_QUEUE_CHUNKS = 16;

export interface BlobFlight {
  /** Resolves once the blob is stored; rejects when the download or the digest check failed. */
  stored: Promise<void>;
  /**
   * Another reader of the download in progress, from its first byte (what has arrived is replayed
   * from memory while that beginning is kept, else read from the session file); undefined when
   * neither can be read (then wait for `stored` and read the stored blob).
   */
  follow?: () => PulledBlob | undefined;
}

/** One client reading a download: each chunk is held back one step (see `start`). */
interface Reader {
  stream: PassThrough;
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
  following?: boolean;
  gone: boolean;
}

const flightKey = (name: string, digest: string) => `${name}\0${digest}`;

const nothing = () => undefined;
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves once `out` wants more, or is closed (at once when it already is). */
const drained = (out: PassThrough) =>
  new Promise<void>((resolve) => {
    if (out.destroyed) return resolve();
    const done = () => {
      out.off('drain', done).off('close', done);
      resolve();
    };
    out.on('drain', done).on('close', done);
  });

export class BlobDownloads {
  private readonly flights = new Map<string, BlobFlight>();
  /** Bytes of download beginnings kept for joiners, across downloads (at most REPLAY_BYTES_IN_ALL). */
  private replayBytes = 0;

  constructor(
    private readonly registry: Registry,
    private readonly observer: SyncObserver,
    private readonly log: SyncLog,
  ) {}

  /** The download of `name`'s blob under way, if any. */
  flight(name: string, digest: string): BlobFlight | undefined {
    return this.flights.get(flightKey(name, digest));
  }

  /** Downloads under way, each settling once stored (or failed). */
  pending(): Array<Promise<void>> {
    return [...this.flights.values()].map((flight) => flight.stored);
  }

  get size(): number {
    return this.flights.size;
  }

  /**
   * Starts the one download of a blob into storage; with `forClient`, also returns a stream of its
   * bytes for the first caller. The stream ends in error if the download fails (its Content-Length
   * tells the client it was cut); the download goes on if the client goes away.
   */
  async start(name: string, digest: Digest, source: Source, forClient: boolean): Promise<PulledBlob | undefined> {
    const key = flightKey(name, digest.value);
    const existing = this.flights.get(key);
    if (existing) {
      // Someone else's download is under way: a client follows it (or waits and reads what it stored).
      const following = forClient ? existing.follow?.() : undefined;
      if (following) return following;
      await existing.stored;
      return forClient ? this.readStored(name, digest) : undefined;
    }
    let settle!: { resolve: () => void; reject: (error: Error) => void };
    const stored = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    stored.catch(() => undefined);
    const flight: BlobFlight = { stored };
    this.flights.set(key, flight);
    let blob;
    try {
      blob = await source.upstream.blob(source.remote, digest.value, AbortSignal.timeout(source.upstream.config.syncTimeoutMs));
    } catch (error) {
      this.flights.delete(key);
      this.observer.failed(source.upstream.name, error instanceof UpstreamError ? error.failure : 'error');
      settle.reject(error as Error);
      throw error;
    }
    // Chunks go to the store as they came (object mode: a byte stream's reader gets everything
    // buffered concatenated into one fresh buffer, a copy of every byte), and only a few wait here:
    // a chunk that outlives two scavenges dies in the old space, and those cost a full collection
    // every ~80 ms of a download (CPU per byte halved without them).
    const toStore = new PassThrough({ objectMode: true, highWaterMark: STORE_QUEUE_CHUNKS });
    // The store may fail before its reader is attached (it takes its lock first): the error stays
    // in the stream's state for the reader to find.
    toStore.on('error', () => undefined);
    // Each client gets each chunk one step behind: the last one, and the end, only once the store has
    // committed the blob (it checks the digest and the length as the bytes stream in), so a forged
    // or cut blob never reaches a client as a complete answer, and the bytes are hashed once.
    const readers: Reader[] = [];
    const addReader = (): Reader => {
      const reader: Reader = { stream: new PassThrough({ highWaterMark: 4 * 1024 * 1024 }), sent: 0, replayed: 0, behind: false, gone: false };
      reader.stream.on('error', () => undefined);
      reader.stream.on('close', () => (reader.gone = true));
      readers.push(reader);
      return reader;
    };
    const drop = (reader: Reader, reason: string) => {
      if (reader.gone) return;
      reader.gone = true;
      reader.stream.destroy(new Error(reason));
    };
    const dropAll = (reason: string) => readers.forEach((reader) => drop(reader, reason));
    const feed = (reader: Reader, chunk: Buffer) => {
      reader.stream.write(chunk);
      reader.sent += chunk.length;
    };
    // The download's beginning, kept for clients who join it (bounded per download and in all).
    let kept: Buffer[] | undefined = [];
    let keptBytes = 0;
    const forget = () => {
      this.replayBytes -= keptBytes;
      keptBytes = 0;
      kept = undefined;
    };
    let bytes = 0;
    let ended = false;
    let outcome: 'stored' | 'failed' | undefined;
    const settled = stored.then(nothing, nothing);
    let openSession: (() => Promise<SessionReader>) | undefined;
    // Following the session file needs its length, to hold the last byte back until the blob is stored.
    const canFollowFile = () => openSession !== undefined && blob.length !== undefined && outcome === undefined;
    /**
     * A client that fell behind, or joined after the kept beginning, reads the download from its
     * session file from `from` on as the store writes it; the last byte only once the blob is
     * stored (a forged or cut blob still never reaches it complete).
     */
    const followFile = async (reader: Reader, from: number): Promise<void> => {
      reader.following = true;
      const length = blob.length!;
      let file: SessionReader | undefined;
      try {
        try {
          file = await openSession!();
        } catch {
          // The commit moved the session file away (or a failure removed it): the stored blob, if any.
          await stored;
          return void this.copyStored(name, digest, from, reader.stream);
        }
        const buffer = Buffer.alloc(256 * 1024);
        for (let position = from; position < length && !reader.stream.destroyed;) {
          const limit = outcome === 'stored' ? length : length - 1;
          const read = position < limit ? await file.read(buffer.subarray(0, Math.min(buffer.length, limit - position)), position) : 0;
          if (read > 0) {
            position += read;
            if (!reader.stream.write(Buffer.from(buffer.subarray(0, read)))) await drained(reader.stream);
          } else if (outcome === 'stored') throw new Error(`the stored blob ended at ${position} of ${length} bytes`);
          else if (outcome === 'failed') return;
          else await Promise.race([settled, pause(FOLLOW_POLL_MS)]);
        }
        // The end only with the digest checked (an empty blob has no last byte to hold back).
        await stored;
        reader.stream.end();
      } catch (error) {
        reader.stream.destroy(error as Error);
      } finally {
        await file?.close().catch(nothing);
      }
    };
    flight.follow = () => {
      if (!kept || ended) {
        // Once the body has ended, the commit (fsync, rename) is under way: better wait for it.
        if (ended || !canFollowFile()) return undefined;
        const late = addReader();
        late.behind = true;
        void followFile(late, 0);
        return { size: blob.length, body: late.stream };
      }
      const reader = addReader();
      kept.slice(0, -1).forEach((chunk) => feed(reader, chunk));
      reader.replayed = reader.sent;
      const last = kept.at(-1);
      if (last) reader.held = last;
      return { size: blob.length, body: reader.stream };
    };
    const first = forClient ? addReader() : undefined;
    blob.body.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (kept) {
        if (keptBytes + chunk.length <= REPLAY_BYTES && this.replayBytes + chunk.length <= REPLAY_BYTES_IN_ALL) {
          kept.push(chunk);
          keptBytes += chunk.length;
          this.replayBytes += chunk.length;
        } else forget();
      }
      for (const reader of readers) {
        if (reader.gone || reader.behind) continue;
        if (reader.held) feed(reader, reader.held);
        reader.held = chunk;
        // The store sets the pace, never a client: one this far behind stops being fed from memory.
        const unreadReplay = Math.max(0, reader.replayed - (reader.sent - reader.stream.writableLength));
        if (reader.stream.writableLength > CLIENT_LAG_BYTES + unreadReplay) {
          reader.behind = true;
          reader.held = undefined;
          if (canFollowFile()) void followFile(reader, reader.sent);
        }
      }
      if (!toStore.write(chunk)) {
        blob.body.pause();
        toStore.once('drain', () => blob.body.resume());
      }
    });
    blob.body.once('end', () => {
      ended = true;
      forget();
      toStore.end();
    });
    blob.body.on('error', (error) => {
      ended = true;
      forget();
      toStore.destroy(error);
      dropAll(error.message);
    });
    void this.storeBlob(name, digest, toStore, blob.length, (id) => {
      const uploads = this.registry.store.uploads;
      if (!uploads.openSession) return;
      openSession = () => uploads.openSession!(name, id);
      // Readers that fell behind before the session existed follow it now.
      if (canFollowFile()) for (const reader of readers) if (reader.behind && !reader.following && !reader.gone) void followFile(reader, reader.sent);
    }).then(
      () => {
        outcome = 'stored';
        // Stored, so the store found the digest it was asked for: the readers get their last chunk.
        for (const reader of readers) {
          if (reader.gone || reader.following) continue;
          if (reader.behind) void this.copyStored(name, digest, reader.sent, reader.stream);
          else {
            if (reader.held) feed(reader, reader.held);
            reader.stream.end();
          }
        }
        this.flights.delete(key);
        this.observer.fetched(source.upstream.name, 'blob', bytes);
        settle.resolve();
      },
      (error: unknown) => {
        outcome = 'failed';
        this.flights.delete(key);
        // Nothing more of this download is wanted: stop it (the next pull starts afresh).
        blob.body.destroy();
        this.observer.failed(source.upstream.name, error instanceof RegistryError && error.key === 'DIGEST_INVALID' ? 'digest-mismatch' : 'interrupted');
        this.log.error({ repository: name, digest: digest.value, upstream: source.upstream.name, reason: (error as Error).message }, 'sync: a blob from the upstream was not stored');
        dropAll((error as Error).message);
        settle.reject(error as Error);
      },
    );
    return first ? { size: blob.length, body: first.stream } : undefined;
  }

  /** Streams `body` into the repository's blob store through an upload session, digest checked. */
  private async storeBlob(name: string, digest: Digest, body: Readable, length: number | undefined, opened: (id: string) => void): Promise<void> {
    const session = await this.registry.store.uploads.create(name);
    opened(session.id);
    try {
      const size = await this.registry.store.uploads.commit(name, session.id, digest, body);
      if (length !== undefined && size !== length) throw new RegistryError('SIZE_INVALID', `the upstream announced ${length} bytes and sent ${size}`);
    } catch (error) {
      body.resume();
      await this.registry.store.uploads.cancel(name, session.id).catch(() => undefined);
      throw error;
    }
  }

  /** A stored blob as a stream (for a caller who waited for another's download). */
  async readStored(name: string, digest: Digest): Promise<PulledBlob> {
    const reader = await this.registry.blobs.open(name, digest);
    const out = new PassThrough();
    void this.copyStored(name, digest, 0, out, reader);
    return { size: reader.size, body: out };
  }

  /** Writes a stored blob from `from` to `out` and ends it (or destroys it on an error). */
  private async copyStored(name: string, digest: Digest, from: number, out: PassThrough, opened?: BlobReader): Promise<void> {
    let reader = opened;
    try {
      reader ??= await this.registry.blobs.open(name, digest);
      const buffer = Buffer.alloc(256 * 1024);
      for (let position = from; position < reader.size && !out.destroyed;) {
        const read = await reader.read(buffer, position);
        if (read <= 0) throw new Error(`the stored blob ended at ${position} of ${reader.size} bytes`);
        position += read;
        if (!out.write(Buffer.from(buffer.subarray(0, read)))) await drained(out);
      }
      out.end();
    } catch (error) {
      out.destroy(error as Error);
    } finally {
      await reader?.close().catch(nothing);
    }
  }

  /** Makes sure `name` holds the blob (joining a download in flight), fetching it from `source` if not. */
  async ensure(name: string, digest: Digest, source: Source): Promise<void> {
    if ((await this.registry.store.statBlob(name, digest)) !== undefined) return;
    const flying = this.flights.get(flightKey(name, digest.value));
    if (flying) return flying.stored;
    await this.start(name, digest, source, false);
    await this.flights.get(flightKey(name, digest.value))?.stored;
  }
}
