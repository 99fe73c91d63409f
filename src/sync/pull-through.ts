/**
 * The pull-through cache (zot's `onDemand`): a pull of what Berth does not hold, in a repository
 * that an on-demand upstream maps, is answered from that upstream and stored on the way.
 *
 * - A manifest is answered as soon as the upstream has sent it (its digest checked); Berth then
 *   completes the image in the background — every blob, an index's children, the referrers the
 *   upstream has — and stores the manifest last, so a stored manifest never names a blob Berth
 *   lacks (GC, scrub and the UI see an ordinary image). Until then the fetched bytes answer
 *   further requests for that manifest, from memory.
 * - A blob is streamed to the client while it is stored: one upstream fetch per blob however many
 *   ask at once (those who join later wait for it and read it from storage); the store checks the
 *   digest before it commits, so nothing partial or forged is ever kept; a client that goes away
 *   does not stop the download.
 * - A tag Berth holds is served locally and rechecked (a HEAD) at most every manifestCheckInterval;
 *   a moved tag is fetched again; an upstream that is down or slow means the local copy, with a
 *   log line. Digests never change and are never rechecked.
 *
 * Every write here is Berth's own (the actor `sync`); the HTTP layer audits the request that
 * caused it.
 */
import { PassThrough, type Readable } from 'node:stream';
import type { SyncConfig, SyncRegistryConfig } from '../config/config.js';
import { DOCKER_HUB_HOSTS } from '../config/sync-config.js';
import { RegistryError } from '../oci/errors.js';
import { parseDigest, type Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';
import { isIndexMediaType } from '../oci/media-types.js';
import type { Actor } from '../registry/manifest-writes.js';
import type { Reference } from '../registry/manifests.js';
import type { Registry } from '../registry/registry.js';
import { upstreamNameOf } from './content.js';
import { FreshnessTracker } from './freshness.js';
import { Waiters } from '../coordination/waiters.js';
import { Upstream, UpstreamError, type UpstreamLog, type UpstreamManifest } from './upstream.js';

/** Who writes what the cache stores: Berth itself. */
export const SYNC_ACTOR: Actor = { username: 'sync', method: 'sync' };
/** How long a freshness check may take before the local copy is served. */
const CHECK_TIMEOUT_MS = 3_000;
/** Repository names whose sources are remembered; past this the memo starts afresh (names are cheap to map again). */
const SOURCE_MEMO = 10_000;
/** How far a client may fall behind a download it started before it is let go (the download goes on). */
const CLIENT_LAG_BYTES = 64 * 1024 * 1024;
/** How much of a download's beginning is kept for clients who join it, per download and in all. */
const REPLAY_BYTES = 32 * 1024 * 1024;
const REPLAY_BYTES_IN_ALL = 128 * 1024 * 1024;
/**
 * How long the background completion of an image waits before fetching its blobs: the client that
 * pulled the manifest asks for them within moments and so gets each one streamed as it arrives
 * (a download it would only join later reaches it once stored).
 */
const COMPLETE_GRACE_MS = 2_000;
/** Images completed in the background at once; more wait their turn. */
const COMPLETIONS_AT_ONCE = 4;
/** Images answered but not yet stored, at most; past this a pull is answered but its image not kept. */
const FETCHED_LIMIT = 1_000;

export interface SyncObserver {
  /** A pull answered locally (`hit`) or from an upstream (`miss`). */
  served(kind: 'manifest' | 'blob', outcome: 'hit' | 'miss'): void;
  /** Bytes fetched from an upstream. */
  fetched(upstream: string, kind: 'manifest' | 'blob', bytes: number): void;
  /** A fetch that failed, by how. */
  failed(upstream: string, failure: string): void;
  /** A freshness check: the tag had not moved, had moved, is not upstream (pushed here), or the upstream did not answer. */
  checked(upstream: string, outcome: 'same' | 'moved' | 'absent' | 'unreachable'): void;
}

export const UNOBSERVED_SYNC: SyncObserver = { served: () => undefined, fetched: () => undefined, failed: () => undefined, checked: () => undefined };

export interface SyncLog extends UpstreamLog {
  info(facts: object, message: string): void;
  error(facts: object, message: string): void;
}

/** Where a local repository comes from: an upstream and the repository's name there. */
export interface Source {
  upstream: Upstream;
  remote: string;
}

/** A blob for the client: its size (when known) and its bytes as they arrive. */
export interface PulledBlob {
  size: number | undefined;
  body: Readable;
}

interface BlobFlight {
  /** Resolves once the blob is stored; rejects when the download or the digest check failed. */
  stored: Promise<void>;
  /**
   * Another reader of the download in progress, from its first byte (what has arrived is replayed
   * from memory, then it follows live); undefined once that prefix is no longer kept.
   */
  follow?: () => PulledBlob | undefined;
}

/** One client reading a download: each chunk is held back one step (see startBlob). */
interface Reader {
  stream: PassThrough;
  held?: Buffer;
  gone: boolean;
}

const flightKey = (name: string, digest: string) => `${name}\0${digest}`;

export class PullThrough {
  private readonly upstreams: Array<{ config: SyncRegistryConfig; client: Upstream }>;
  private readonly freshness = new FreshnessTracker();
  private readonly blobFlights = new Map<string, BlobFlight>();
  private readonly manifestFlights = new Map<string, Promise<UpstreamManifest>>();
  /** Manifests answered but not stored yet (their image is being completed), by repository and reference. */
  private readonly fetched = new Map<string, UpstreamManifest>();
  private readonly completing = new Map<string, Promise<void>>();
  private readonly sourceMemo = new Map<string, Source[]>();
  /** Bytes of download beginnings kept for joiners, across downloads (at most REPLAY_BYTES_IN_ALL). */
  private replayBytes = 0;
  /** Completions waiting out COMPLETE_GRACE_MS (woken at once by `settled` and `close`). */
  private readonly grace = new Waiters();
  private readonly turns = new Semaphore(COMPLETIONS_AT_ONCE);
  private closed = false;

  constructor(
    config: SyncConfig,
    private readonly registry: Registry,
    private readonly log: SyncLog,
    private readonly observer: SyncObserver = UNOBSERVED_SYNC,
  ) {
    this.upstreams = config.registries.map((item) => ({ config: item, client: new Upstream(item, log) }));
  }

  /** Every configured upstream (periodic sync walks those with a pollInterval). */
  get registries(): ReadonlyArray<{ config: SyncRegistryConfig; client: Upstream }> {
    return this.upstreams;
  }

  /** The upstreams an on-demand pull of `name` may come from, in the config's order (remembered per name: every pull asks). */
  sourcesOf(name: string, namespace?: string): Source[] {
    const key = namespace === undefined ? name : `${name}\0${namespace}`;
    let found = this.sourceMemo.get(key);
    if (found) return found;
    found = this.findSources(name, namespace);
    if (this.sourceMemo.size >= SOURCE_MEMO) this.sourceMemo.clear();
    this.sourceMemo.set(key, found);
    return found;
  }

  /**
   * `namespace` is containerd's `?ns=<registry host>` (a hosts.toml mirror): only the upstreams of
   * that registry may answer, so one mirror cannot hand out another registry's image of the same name.
   */
  private findSources(name: string, namespace: string | undefined): Source[] {
    const found: Source[] = [];
    for (const { config, client } of this.upstreams) {
      if (!config.onDemand) continue;
      if (namespace !== undefined && !servesNamespace(config, namespace)) continue;
      const mapped = upstreamNameOf(config.content, name);
      if (mapped) found.push({ upstream: client, remote: mapped.name });
    }
    return found;
  }

  /**
   * A manifest for a pull in a mirrored repository. `local` is what Berth holds (undefined: nothing):
   * a digest or a tag checked recently is answered from it; otherwise the upstreams are asked in
   * order. Throws MANIFEST_UNKNOWN when no upstream has it, UPSTREAM_* when none could say.
   */
  async manifest(
    name: string,
    reference: Reference,
    local: { descriptor: Descriptor; bytes: Buffer } | undefined,
    namespace?: string,
  ): Promise<{ descriptor: Descriptor; bytes: Buffer; from?: string }> {
    const sources = this.sourcesOf(name, namespace);
    const tag = reference.tag;
    if (local && (tag === undefined || sources.length === 0 || !this.freshness.due(name, tag, this.checkInterval(sources)))) {
      this.observer.served('manifest', 'hit');
      return local;
    }
    const key = `${name}\0${tag ?? reference.digest!.value}`;
    const pending = this.fetched.get(key);
    if (pending && !local) return { descriptor: describe(pending), bytes: pending.bytes };
    if (local && tag !== undefined) {
      const moved = await this.checkTag(name, tag, local.descriptor.digest, sources);
      if (!moved) return local;
    }
    let lastError: unknown = new RegistryError('MANIFEST_UNKNOWN', tag !== undefined ? { tag } : { digest: reference.digest!.value });
    for (const source of sources) {
      try {
        const manifest = await this.fetchManifest(key, source, tag ?? reference.digest!.value);
        this.observer.served('manifest', 'miss');
        if (tag !== undefined) this.freshness.checked(name, tag);
        this.complete(name, source, manifest, tag);
        return { descriptor: describe(manifest), bytes: manifest.bytes, from: source.upstream.name };
      } catch (error) {
        lastError = error;
        if (error instanceof UpstreamError && (error.failure === 'not-found' || error.failure === 'unauthorized' || error.failure === 'denied')) continue;
        break;
      }
    }
    if (local) {
      if (tag !== undefined) this.freshness.checked(name, tag);
      this.log.warn({ repository: name, tag, reason: (lastError as Error).message }, 'sync: the upstream could not be asked; serving the copy Berth holds');
      return local;
    }
    throw asRegistryError(lastError, tag !== undefined ? { tag } : { digest: reference.digest!.value });
  }

  /**
   * A blob Berth does not hold, from the first upstream that has it: streamed to the caller while it
   * is stored. A second caller during the download waits for it and reads it from storage.
   */
  async blob(name: string, digest: Digest, namespace?: string): Promise<PulledBlob> {
    const sources = this.sourcesOf(name, namespace);
    const flying = this.blobFlights.get(flightKey(name, digest.value));
    // Another's download in flight: follow it from its start while its beginning is kept; else wait
    // for it and read what it stored; if it failed, try afresh below.
    const following = flying?.follow?.();
    if (following) {
      this.observer.served('blob', 'miss');
      return following;
    }
    if (
      flying &&
      (await flying.stored.then(
        () => true,
        () => false,
      ))
    )
      return this.readStored(name, digest);
    let lastError: unknown = new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
    for (const source of sources) {
      try {
        const pulled = await this.startBlob(name, digest, source, true);
        this.observer.served('blob', 'miss');
        return pulled!;
      } catch (error) {
        lastError = error;
        if (error instanceof UpstreamError && (error.failure === 'not-found' || error.failure === 'unauthorized' || error.failure === 'denied')) continue;
        break;
      }
    }
    throw asRegistryError(lastError, { digest: digest.value }, 'BLOB_UNKNOWN');
  }

  /**
   * Where a mirrored repository comes from, for the web UI: the first upstream that maps it, the
   * name there, how often a tag is rechecked, and (for `tag`) when it was last confirmed upstream.
   */
  mirrorOf(name: string, tag?: string): { upstream: string; remote: string; checkIntervalMs: number; checkedAt?: Date } | undefined {
    const source = this.sourcesOf(name)[0];
    if (!source) return undefined;
    const checkedAt = tag === undefined ? undefined : this.freshness.checkedAt(name, tag);
    return {
      upstream: source.upstream.name,
      remote: source.remote,
      checkIntervalMs: source.upstream.config.manifestCheckIntervalMs,
      ...(checkedAt !== undefined ? { checkedAt: new Date(checkedAt) } : {}),
    };
  }

  /** A blob of a mirrored repository served from what Berth holds (for the hit/miss count). */
  blobHit(name: string): void {
    if (this.sourcesOf(name).length > 0) this.observer.served('blob', 'hit');
  }

  /**
   * Copies one tag (periodic sync): nothing when Berth's copy has the upstream's digest (a round
   * that was cut short resumes where it stopped); else the whole image, then its referrers. Returns
   * whether it copied.
   */
  async copyTag(name: string, source: Source, tag: string, signal: AbortSignal): Promise<boolean> {
    const upstreamDigest = await source.upstream.manifestDigest(source.remote, tag, 30_000);
    const held = await this.registry.manifests.head(name, { tag }).then(
      (descriptor) => descriptor.digest,
      () => undefined,
    );
    if (held !== undefined && held === upstreamDigest) return false;
    const manifest = await source.upstream.manifest(source.remote, tag, signal);
    this.observer.fetched(source.upstream.name, 'manifest', manifest.bytes.length);
    if (held === manifest.digest) return false;
    await this.storeImage(name, source, manifest, tag);
    await this.storeReferrers(name, source, manifest.digest);
    return true;
  }

  /** Completions in flight settle (tests, shutdown). */
  async settled(): Promise<void> {
    // Completions waiting out their grace start now.
    this.grace.wakeAll();
    while (this.completing.size > 0 || this.blobFlights.size > 0) await Promise.allSettled([...this.completing.values(), ...[...this.blobFlights.values()].map((flight) => flight.stored)]);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.grace.wakeAll();
    await this.settled();
    await Promise.all(this.upstreams.map(({ client }) => client.close()));
  }

  private checkInterval(sources: Source[]): number {
    return sources[0]!.upstream.config.manifestCheckIntervalMs;
  }

  /** Whether `tag` moved upstream (true: fetch it again); false when it did not, or the upstream could not say. */
  private async checkTag(name: string, tag: string, held: string, sources: Source[]): Promise<boolean> {
    const source = sources[0]!;
    try {
      const upstreamDigest = await source.upstream.manifestDigest(source.remote, tag, CHECK_TIMEOUT_MS);
      if (upstreamDigest === held) {
        this.freshness.checked(name, tag);
        this.observer.checked(source.upstream.name, 'same');
        return false;
      }
      this.observer.checked(source.upstream.name, 'moved');
      this.log.info({ repository: name, tag, held, upstream: upstreamDigest ?? 'unknown' }, 'sync: the tag moved upstream; fetching it again');
      return true;
    } catch (error) {
      // A tag pushed here that the upstream does not have (a local image in a mirrored namespace): Berth's copy stands.
      if (error instanceof UpstreamError && error.failure === 'not-found') {
        this.freshness.checked(name, tag);
        this.observer.checked(source.upstream.name, 'absent');
        return false;
      }
      // Not asked again until the interval has passed: an unreachable upstream must not slow every pull.
      this.freshness.checked(name, tag);
      this.observer.checked(source.upstream.name, 'unreachable');
      this.log.warn({ repository: name, tag, upstream: source.upstream.name, reason: (error as Error).message }, 'sync: cannot check the tag upstream; serving the copy Berth holds');
      return false;
    }
  }

  /** One upstream fetch per manifest however many ask at once. */
  private fetchManifest(key: string, source: Source, reference: string): Promise<UpstreamManifest> {
    const flightKeyOf = `${key}\0${source.upstream.name}`;
    let flight = this.manifestFlights.get(flightKeyOf);
    if (!flight) {
      flight = source.upstream.manifest(source.remote, reference).then(
        (manifest) => {
          this.observer.fetched(source.upstream.name, 'manifest', manifest.bytes.length);
          return manifest;
        },
        (error: unknown) => {
          this.observer.failed(source.upstream.name, error instanceof UpstreamError ? error.failure : 'error');
          throw error;
        },
      );
      this.manifestFlights.set(flightKeyOf, flight);
      void flight.then(
        () => this.manifestFlights.delete(flightKeyOf),
        () => this.manifestFlights.delete(flightKeyOf),
      );
    }
    return flight;
  }

  /**
   * Starts the one download of a blob into storage; with `forClient`, also returns a stream of its
   * bytes for the first caller. The stream ends in error if the download fails (its Content-Length
   * tells the client it was cut); the download goes on if the client goes away.
   */
  private async startBlob(name: string, digest: Digest, source: Source, forClient: boolean): Promise<PulledBlob | undefined> {
    const key = flightKey(name, digest.value);
    const existing = this.blobFlights.get(key);
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
    this.blobFlights.set(key, flight);
    let blob;
    try {
      blob = await source.upstream.blob(source.remote, digest.value, AbortSignal.timeout(source.upstream.config.syncTimeoutMs));
    } catch (error) {
      this.blobFlights.delete(key);
      this.observer.failed(source.upstream.name, error instanceof UpstreamError ? error.failure : 'error');
      settle.reject(error as Error);
      throw error;
    }
    const toStore = new PassThrough({ highWaterMark: 4 * 1024 * 1024 });
    // The store may fail before its reader is attached (it takes its lock first): the error stays
    // in the stream's state for the reader to find.
    toStore.on('error', () => undefined);
    // Each client gets each chunk one step behind: the last one, and the end, only once the store has
    // committed the blob (it checks the digest and the length as the bytes stream in), so a forged
    // or cut blob never reaches a client as a complete answer, and the bytes are hashed once.
    const readers: Reader[] = [];
    const addReader = (): Reader => {
      const reader: Reader = { stream: new PassThrough({ highWaterMark: 4 * 1024 * 1024 }), gone: false };
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
    flight.follow = () => {
      if (!kept || ended) return undefined;
      const reader = addReader();
      kept.slice(0, -1).forEach((chunk) => reader.stream.write(chunk));
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
        if (reader.gone) continue;
        if (reader.held) reader.stream.write(reader.held);
        reader.held = chunk;
        // The store sets the pace, never a client: one that falls this far behind is let go.
        if (reader.stream.writableLength > CLIENT_LAG_BYTES) drop(reader, 'the client read too slowly; the download goes on without it');
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
    void this.storeBlob(name, digest, toStore, blob.length).then(
      () => {
        // Stored, so the store found the digest it was asked for: the readers get their last chunk.
        for (const reader of readers) {
          if (reader.gone) continue;
          if (reader.held) reader.stream.write(reader.held);
          reader.stream.end();
        }
        this.blobFlights.delete(key);
        this.observer.fetched(source.upstream.name, 'blob', bytes);
        settle.resolve();
      },
      (error: unknown) => {
        this.blobFlights.delete(key);
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
  private async storeBlob(name: string, digest: Digest, body: Readable, length: number | undefined): Promise<void> {
    const session = await this.registry.store.uploads.create(name);
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
  private async readStored(name: string, digest: Digest): Promise<PulledBlob> {
    const reader = await this.registry.blobs.open(name, digest);
    const out = new PassThrough();
    void (async () => {
      const buffer = Buffer.alloc(256 * 1024);
      try {
        for (let position = 0; position < reader.size;) {
          const read = await reader.read(buffer, position);
          if (read <= 0) break;
          position += read;
          if (!out.write(Buffer.from(buffer.subarray(0, read)))) await new Promise((resolve) => out.once('drain', resolve));
        }
        out.end();
      } catch (error) {
        out.destroy(error as Error);
      } finally {
        await reader.close();
      }
    })();
    return { size: reader.size, body: out };
  }

  /** Makes sure `name` holds the blob (joining a download in flight), fetching it from `source` if not. */
  private async ensureBlob(name: string, digest: Digest, source: Source): Promise<void> {
    if ((await this.registry.store.statBlob(name, digest)) !== undefined) return;
    const flying = this.blobFlights.get(flightKey(name, digest.value));
    if (flying) return flying.stored;
    await this.startBlob(name, digest, source, false);
    await this.blobFlights.get(flightKey(name, digest.value))?.stored;
  }

  /**
   * In the background: the rest of the image (blobs, an index's children, referrers), then the
   * manifest itself, stored by Berth. One completion per manifest at a time.
   */
  private complete(name: string, source: Source, manifest: UpstreamManifest, tag: string | undefined): void {
    const key = `${name}\0${manifest.digest}\0${tag ?? ''}`;
    // Bounded: past FETCHED_LIMIT images waiting, a pull is answered but its image not kept this time.
    if (this.completing.has(key) || this.closed || this.completing.size >= FETCHED_LIMIT) return;
    const byDigest = `${name}\0${manifest.digest}`;
    const byReference = `${name}\0${tag ?? manifest.digest}`;
    // Kept for the requests that follow (docker: HEAD by tag, then GET by digest) until stored.
    this.fetched.set(byReference, manifest);
    this.fetched.set(byDigest, manifest);
    const work = (async () => {
      await this.grace.wait(COMPLETE_GRACE_MS);
      await this.turns.acquire();
      try {
        await this.storeImage(name, source, manifest, tag);
        await this.storeReferrers(name, source, manifest.digest);
        this.log.info({ repository: name, tag, digest: manifest.digest, upstream: source.upstream.name }, 'sync: image stored');
      } catch (error) {
        this.log.error(
          { repository: name, tag, digest: manifest.digest, upstream: source.upstream.name, reason: (error as Error).message },
          'sync: the image could not be completed; the next pull fetches it again',
        );
      } finally {
        this.turns.release();
        this.fetched.delete(byReference);
        this.fetched.delete(byDigest);
        this.completing.delete(key);
      }
    })();
    this.completing.set(key, work);
  }

  private async storeImage(name: string, source: Source, manifest: UpstreamManifest, tag: string | undefined): Promise<void> {
    const document = JSON.parse(manifest.bytes.toString('utf8')) as { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
    if (isIndexMediaType(manifest.mediaType) || Array.isArray(document.manifests)) {
      for (const child of document.manifests ?? []) {
        const childDigest = parseDigest(child.digest);
        if (!childDigest) throw new UpstreamError('invalid', `the index names an invalid digest ${child.digest}`);
        if (await this.held(name, childDigest)) continue;
        const fetched = await source.upstream.manifest(source.remote, child.digest);
        this.observer.fetched(source.upstream.name, 'manifest', fetched.bytes.length);
        await this.storeImage(name, source, fetched, undefined);
      }
    } else {
      for (const blob of [...(document.config ? [document.config] : []), ...(document.layers ?? [])]) {
        const digest = parseDigest(blob.digest);
        if (!digest) throw new UpstreamError('invalid', `the manifest names an invalid digest ${blob.digest}`);
        await this.ensureBlob(name, digest, source);
      }
    }
    const reference: Reference = tag !== undefined ? { tag } : { digest: parseDigest(manifest.digest)! };
    await this.registry.manifests.put(name, reference, manifest.bytes, manifest.mediaType, { mayMoveTag: true, actor: SYNC_ACTOR });
  }

  /** Signatures, SBOMs and other referrers the upstream lists for `digest`; failures are logged, not fatal. */
  private async storeReferrers(name: string, source: Source, digest: string): Promise<void> {
    try {
      const found = await source.upstream.referrers(source.remote, digest);
      for (const referrer of found?.manifests ?? []) {
        const referrerDigest = parseDigest(referrer.digest);
        if (!referrerDigest || (await this.held(name, referrerDigest))) continue;
        const fetched = await source.upstream.manifest(source.remote, referrer.digest);
        await this.storeImage(name, source, fetched, undefined);
      }
    } catch (error) {
      this.log.warn({ repository: name, digest, upstream: source.upstream.name, reason: (error as Error).message }, 'sync: referrers not copied');
    }
  }

  private async held(name: string, digest: Digest): Promise<boolean> {
    return this.registry.manifests.head(name, { digest }).then(
      () => true,
      () => false,
    );
  }
}

/** Whether an upstream is the registry containerd names in `?ns=` (Docker Hub by any of its names). */
function servesNamespace(config: SyncRegistryConfig, namespace: string): boolean {
  const wanted = namespace.toLowerCase();
  return config.urls.some((url) => {
    const host = new URL(url).host.toLowerCase();
    return host === wanted || (DOCKER_HUB_HOSTS.includes(host) && DOCKER_HUB_HOSTS.includes(wanted));
  });
}

/** At most `size` holders at once; the others queue in order. */
class Semaphore {
  private free: number;
  private readonly queue: Array<() => void> = [];

  constructor(size: number) {
    this.free = size;
  }

  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.queue.push(resolve));
  }

  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.free++;
  }
}

function describe(manifest: UpstreamManifest): Descriptor {
  return { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length };
}

/** An upstream's failure in the registry's words: 404 stays 404; a refusal or an outage names the upstream. */
function asRegistryError(error: unknown, detail: Record<string, string>, notFound: 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN' = 'MANIFEST_UNKNOWN'): RegistryError {
  if (error instanceof RegistryError) return error;
  if (!(error instanceof UpstreamError)) return new RegistryError('UPSTREAM_UNAVAILABLE', String((error as Error).message ?? error));
  if (error.failure === 'not-found') return new RegistryError(notFound, detail);
  if (error.failure === 'unauthorized' || error.failure === 'denied') return new RegistryError('UPSTREAM_REFUSED', error.message);
  if (error.failure === 'invalid') return new RegistryError('UPSTREAM_INVALID', error.message);
  return new RegistryError('UPSTREAM_UNAVAILABLE', error.message);
}
