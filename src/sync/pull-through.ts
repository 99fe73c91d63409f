/**
 * The pull-through cache (zot's `onDemand`): a pull of what Berth does not hold, in a repository
 * that an on-demand upstream maps, is answered from that upstream and stored on the way.
 *
 * - A manifest is answered as soon as the upstream has sent it (its digest checked); Berth then
 *   completes the image in the background (image-copier.ts) — every blob, an index's children, the referrers the
 *   upstream has — and stores the manifest last, so a stored manifest never names a blob Berth
 *   lacks (GC, scrub and the UI see an ordinary image). Until then the fetched bytes answer
 *   further requests for that manifest, from memory.
 * - A blob is streamed to the client while it is stored (blob-downloads.ts): one upstream fetch per
 *   blob however many ask at once; the store checks the digest before it commits, so nothing
 *   partial or forged is ever kept or handed out as complete.
 * - A tag Berth holds is served locally and rechecked (a HEAD) at most every manifestCheckInterval;
 *   a moved tag is fetched again; an upstream that is down or slow means the local copy, with a
 *   log line. Digests never change and are never rechecked.
 *
 * Every write here is Berth's own (the actor `sync`); the HTTP layer audits the request that
 * caused it.
 */
import type { SyncConfig, SyncRegistryConfig } from '../config/config.js';
import { RegistryError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';
import type { Reference } from '../registry/manifests.js';
import type { Registry } from '../registry/registry.js';
import { servesNamespace, upstreamNameOf } from './content.js';
import { FreshnessTracker } from './freshness.js';
import { Waiters } from '../coordination/waiters.js';
import { Upstream, UpstreamError, type UpstreamManifest } from './upstream.js';
import { asRegistryError, untilAborted } from './upstream-http.js';
import { BlobDownloads } from './blob-downloads.js';
import { ImageCopier } from './image-copier.js';
import { Semaphore } from '../coordination/semaphore.js';
import { UNOBSERVED_SYNC, type PulledBlob, type Source, type SyncLog, type SyncObserver } from './sync-types.js';

export { UNOBSERVED_SYNC, type PulledBlob, type Source, type SyncLog, type SyncObserver } from './sync-types.js';

/** How long a freshness check may take before the local copy is served. */
const CHECK_TIMEOUT_MS = 3_000;
/** How long fetching a tag that moved upstream may take before the local copy is served instead. */
const REFETCH_TIMEOUT_MS = 10_000;
/** Repository names whose sources are remembered; past this the memo starts afresh (names are cheap to map again). */
const SOURCE_MEMO = 10_000;
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

export class PullThrough {
  private readonly upstreams: Array<{ config: SyncRegistryConfig; client: Upstream }>;
  private readonly freshness = new FreshnessTracker();
  private readonly downloads: BlobDownloads;
  private readonly images: ImageCopier;
  private readonly manifestFlights = new Map<string, Promise<UpstreamManifest>>();
  /** Manifests answered but not stored yet (their image is being completed), by repository and reference, with where they came from. */
  private readonly fetched = new Map<string, { manifest: UpstreamManifest; upstream: Upstream }>();
  private readonly completing = new Map<string, Promise<void>>();
  private readonly sourceMemo = new Map<string, Source[]>();
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
    this.downloads = new BlobDownloads(registry, observer, log);
    this.images = new ImageCopier(registry, this.downloads, observer, log, () => this.closed);
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
    // A client that names its registry (?ns=) is served Berth's copy of a tag only when that
    // registry vouched for it: another registry may map the same name, and its image is not this one.
    // Without its word yet (another stored the copy, or this process has not asked since it started), a HEAD asks.
    if (local && tag !== undefined && namespace !== undefined && !this.vouched(name, tag, local.descriptor.digest, sources)) {
      if (!(await this.confirmedBy(name, tag, local.descriptor.digest, sources))) local = undefined;
    }
    if (local && (tag === undefined || sources.length === 0 || !this.freshness.due(name, tag, this.checkInterval(sources)))) {
      this.observer.served('manifest', 'hit');
      return local;
    }
    const key = `${name}\0${tag ?? reference.digest!.value}`;
    const pending = this.fetched.get(key);
    if (pending && !local && sources.some((source) => source.upstream === pending.upstream)) return { descriptor: describe(pending.manifest), bytes: pending.manifest.bytes };
    if (local && tag !== undefined) {
      const moved = await this.checkTag(name, tag, local.descriptor.digest, sources);
      if (!moved) return local;
    }
    let lastError: unknown = new RegistryError('MANIFEST_UNKNOWN', tag !== undefined ? { tag } : { digest: reference.digest!.value });
    for (const source of sources) {
      try {
        const fetching = this.fetchManifest(key, source, tag ?? reference.digest!.value);
        // With a copy to fall back on, a slow upstream does not hold the pull: the copy is served,
        // and the fetch goes on; once it arrives, the new image is kept as any other.
        const deadline = local ? AbortSignal.timeout(REFETCH_TIMEOUT_MS) : undefined;
        const manifest = await untilAborted(fetching, deadline, `manifest ${name}:${tag}`).catch((error: unknown) => {
          if (deadline?.aborted)
            void fetching.then(
              (late) => this.fetchedLate(name, source, late, tag),
              () => undefined,
            );
          throw error;
        });
        this.observer.served('manifest', 'miss');
        if (tag !== undefined) this.freshness.checked(name, tag, { digest: manifest.digest, upstream: source.upstream.name });
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
   * is stored. A second caller during the download follows it (see BlobDownloads).
   */
  async blob(name: string, digest: Digest, namespace?: string): Promise<PulledBlob> {
    const sources = this.sourcesOf(name, namespace);
    const flying = this.downloads.flight(name, digest.value);
    // Another's download in flight: follow it from its start (its kept beginning, then its session
    // file); where neither can be read, wait for it and read what it stored; if it failed, try afresh.
    if (flying) await flying.ready;
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
      return this.downloads.readStored(name, digest);
    let lastError: unknown = new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
    for (const source of sources) {
      try {
        const pulled = await this.downloads.start(name, digest, source, true);
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
    await this.images.store(name, source, manifest, tag);
    await this.images.storeReferrers(name, source, manifest.digest);
    return true;
  }

  /** Completions in flight settle (tests, shutdown). */
  async settled(): Promise<void> {
    // Completions waiting out their grace start now.
    this.grace.wakeAll();
    while (this.completing.size > 0 || this.downloads.size > 0) await Promise.allSettled([...this.completing.values(), ...this.downloads.pending()]);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.grace.wakeAll();
    await this.settled();
    await Promise.all(this.upstreams.map(({ client }) => client.close()));
  }

  /**
   * Whether Berth's copy of `tag` (`digest`) may answer a client asking for the registry of
   * `sources`: yes when no other upstream maps the name (the copy came from there, or was pushed
   * here); else only when one of `sources` last said the tag is that digest.
   */
  private vouched(name: string, tag: string, digest: string, sources: Source[]): boolean {
    // Every upstream that maps the name, on demand or periodic: any of them may have stored the tag.
    const all = this.upstreams.filter(({ config }) => upstreamNameOf(config.content, name) !== undefined);
    if (all.every(({ client }) => sources.some((source) => source.upstream === client))) return true;
    const vouch = this.freshness.vouchFor(name, tag);
    return vouch !== undefined && vouch.digest === digest && sources.some((source) => source.upstream.name === vouch.upstream);
  }

  /** Asks the first of `sources` (a HEAD) whether `tag` is `digest` there; true (and remembered) when it is. */
  private async confirmedBy(name: string, tag: string, digest: string, sources: Source[]): Promise<boolean> {
    const source = sources[0];
    if (!source) return false;
    const said = await source.upstream.manifestDigest(source.remote, tag, CHECK_TIMEOUT_MS).catch(() => undefined);
    if (said !== digest) return false;
    this.freshness.checked(name, tag, { digest, upstream: source.upstream.name });
    this.observer.checked(source.upstream.name, 'same');
    return true;
  }

  /** A moved tag's manifest that came after its pull was answered from the copy: kept now. */
  private fetchedLate(name: string, source: Source, manifest: UpstreamManifest, tag: string | undefined): void {
    if (this.closed) return;
    if (tag !== undefined) this.freshness.checked(name, tag, { digest: manifest.digest, upstream: source.upstream.name });
    this.complete(name, source, manifest, tag);
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
        this.freshness.checked(name, tag, { digest: held, upstream: source.upstream.name });
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
    this.fetched.set(byReference, { manifest, upstream: source.upstream });
    this.fetched.set(byDigest, { manifest, upstream: source.upstream });
    const work = (async () => {
      await this.grace.wait(COMPLETE_GRACE_MS);
      await this.turns.acquire();
      try {
        // Shutting down: nothing new is fetched (the next pull fetches the image again).
        if (this.closed) return;
        await this.images.store(name, source, manifest, tag);
        await this.images.storeReferrers(name, source, manifest.digest);
        this.log.info({ repository: name, tag, digest: manifest.digest, upstream: source.upstream.name }, 'sync: image stored');
      } catch (error) {
        const facts = { repository: name, tag, digest: manifest.digest, upstream: source.upstream.name, reason: (error as Error).message };
        // Cut short by the shutdown: expected, not an error.
        if (this.closed) this.log.info(facts, 'sync: the image was not completed before the shutdown; the next pull fetches it again');
        else this.log.error(facts, 'sync: the image could not be completed; the next pull fetches it again');
      } finally {
        this.turns.release();
        this.fetched.delete(byReference);
        this.fetched.delete(byDigest);
        this.completing.delete(key);
      }
    })();
    this.completing.set(key, work);
  }
}

function describe(manifest: UpstreamManifest): Descriptor {
  return { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length };
}
