/**
 * The pull-through cache's blob downloads: one upstream fetch per blob however many ask, streamed to
 * the clients while it is stored through an upload session (its clients: blob-fanout.ts). The
 * store checks the digest and the length as the bytes stream in; a forged or cut blob is never
 * kept, and no client gets it complete. A client that asks once the download is past what can be
 * followed waits for it and reads the stored blob.
 */
import { PassThrough, type Readable } from 'node:stream';
import { isErrorKey, RegistryError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { Registry } from '../registry/registry.js';
import type { BlobReader } from '../storage/store.js';
import { Fanout, copyRange, nothing, type ReplayBudget } from './blob-fanout.js';
import type { PulledBlob, Source, SyncLog, SyncObserver } from './sync-types.js';
import { UpstreamError } from './upstream.js';

/** How much of download beginnings is kept in memory for clients who join them, in all. */
const REPLAY_BYTES_IN_ALL = 128 * 1024 * 1024;
/** Upstream chunks (~64 KiB each) waiting for the store before the download pauses: about 1 MiB. */
const STORE_QUEUE_CHUNKS = 16;

export interface BlobFlight {
  /** Resolves once the blob is stored; rejects when the download or the digest check failed. */
  stored: Promise<void>;
  /** Resolves once the upstream answered (`follow` is set then) or the fetch failed; never rejects. */
  ready: Promise<void>;
  /**
   * Another reader of the download in progress, from its first byte; undefined when it cannot
   * follow (then wait for `stored` and read the stored blob).
   */
  follow?: () => PulledBlob | undefined;
}

const flightKey = (name: string, digest: string) => `${name}\0${digest}`;

export class BlobDownloads {
  private readonly flights = new Map<string, BlobFlight>();
  /** Bytes of download beginnings kept for joiners, across downloads. */
  private readonly replay: ReplayBudget = { used: 0, limit: REPLAY_BYTES_IN_ALL };

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
      await existing.ready;
      const following = forClient ? existing.follow?.() : undefined;
      if (following) return following;
      await existing.stored;
      return forClient ? this.readStored(name, digest) : undefined;
    }
    let settle!: { resolve: () => void; reject: (error: Error) => void };
    const stored = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    stored.catch(() => undefined);
    // Clients who ask before the upstream's answer (its token, a redirect) wait for it, then follow.
    let answered!: () => void;
    const flight: BlobFlight = { stored, ready: new Promise<void>((resolve) => (answered = resolve)) };
    this.flights.set(key, flight);
    let blob;
    try {
      blob = await source.upstream.blob(source.remote, digest.value, AbortSignal.timeout(source.upstream.config.syncTimeoutMs));
    } catch (error) {
      answered();
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
    toStore.on('error', nothing);
    const fanout = new Fanout(blob.length, stored, this.replay, (from, out) => this.copyStored(name, digest, from, out));
    flight.follow = () => fanout.follow();
    answered();
    const first = forClient ? fanout.first() : undefined;
    let bytes = 0;
    blob.body.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      fanout.chunk(chunk);
      if (!toStore.write(chunk)) {
        blob.body.pause();
        toStore.once('drain', () => blob.body.resume());
      }
    });
    blob.body.once('end', () => {
      fanout.end();
      toStore.end();
    });
    blob.body.on('error', (error) => {
      fanout.fail(error.message);
      toStore.destroy(error);
    });
    const uploads = this.registry.store.uploads;
    const opened = (id: string) => {
      if (uploads.openSession) fanout.sessionOpened(() => uploads.openSession!(name, id));
    };
    void this.storeBlob(name, digest, toStore, blob.length, opened).then(
      () => {
        // Stored: the next caller reads it from the store, whatever the clients' streams do next.
        this.flights.delete(key);
        settle.resolve();
        fanout.finish();
        this.observer.fetched(source.upstream.name, 'blob', bytes);
      },
      (error: unknown) => {
        this.flights.delete(key);
        // Nothing more of this download is wanted: stop it (the next pull starts afresh).
        blob.body.destroy();
        this.observer.failed(source.upstream.name, isErrorKey(error, 'DIGEST_INVALID') ? 'digest-mismatch' : 'interrupted');
        this.log.error({ repository: name, digest: digest.value, upstream: source.upstream.name, reason: (error as Error).message }, 'sync: a blob from the upstream was not stored');
        fanout.fail((error as Error).message);
        settle.reject(error as Error);
      },
    );
    return first;
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
      await copyRange(reader, from, reader.size, out);
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
