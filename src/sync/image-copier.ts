/**
 * Copies one image from an upstream into a repository, as Berth (the actor `sync`): an index's
 * children (every platform) or a manifest's blobs (each fetched once, see BlobDownloads), then the
 * manifest itself, last, so a stored manifest never names what Berth lacks; and the referrers the
 * upstream lists (signatures, SBOMs). Used by the pull-through's background completion and by
 * periodic sync.
 */
import { parseDigest, type Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';
import { isIndexMediaType } from '../oci/media-types.js';
import type { Actor } from '../registry/manifest-writes.js';
import type { Reference } from '../registry/manifests.js';
import type { Registry } from '../registry/registry.js';
import type { BlobDownloads } from './blob-downloads.js';
import type { Source, SyncLog, SyncObserver } from './sync-types.js';
import { UpstreamError, type UpstreamManifest } from './upstream.js';

/** Who writes what the cache stores: Berth itself. */
export const SYNC_ACTOR: Actor = { username: 'sync', method: 'sync' };

export class ImageCopier {
  constructor(
    private readonly registry: Registry,
    private readonly downloads: BlobDownloads,
    private readonly observer: SyncObserver,
    private readonly log: SyncLog,
    /** Whether Berth is shutting down. */
    private readonly closed: () => boolean,
  ) {}

  async store(name: string, source: Source, manifest: UpstreamManifest, tag: string | undefined): Promise<void> {
    const document = JSON.parse(manifest.bytes.toString('utf8')) as { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
    if (isIndexMediaType(manifest.mediaType) || Array.isArray(document.manifests)) {
      for (const child of document.manifests ?? []) {
        this.refuseIfClosed();
        const childDigest = parseDigest(child.digest);
        if (!childDigest) throw new UpstreamError('invalid', `the index names an invalid digest ${child.digest}`);
        if (await this.held(name, childDigest)) continue;
        const fetched = await source.upstream.manifest(source.remote, child.digest);
        this.observer.fetched(source.upstream.name, 'manifest', fetched.bytes.length);
        await this.store(name, source, fetched, undefined);
      }
    } else {
      for (const blob of [...(document.config ? [document.config] : []), ...(document.layers ?? [])]) {
        this.refuseIfClosed();
        const digest = parseDigest(blob.digest);
        if (!digest) throw new UpstreamError('invalid', `the manifest names an invalid digest ${blob.digest}`);
        await this.downloads.ensure(name, digest, source);
      }
    }
    const reference: Reference = tag !== undefined ? { tag } : { digest: parseDigest(manifest.digest)! };
    await this.registry.manifests.put(name, reference, manifest.bytes, manifest.mediaType, { mayMoveTag: true, actor: SYNC_ACTOR });
  }

  /** Signatures, SBOMs and other referrers the upstream lists for `digest`; failures are logged, not fatal. */
  async storeReferrers(name: string, source: Source, digest: string): Promise<void> {
    try {
      const found = await source.upstream.referrers(source.remote, digest);
      for (const referrer of found?.manifests ?? []) {
        const referrerDigest = parseDigest(referrer.digest);
        if (!referrerDigest || (await this.held(name, referrerDigest))) continue;
        const fetched = await source.upstream.manifest(source.remote, referrer.digest);
        await this.store(name, source, fetched, undefined);
      }
    } catch (error) {
      this.log.warn({ repository: name, digest, upstream: source.upstream.name, reason: (error as Error).message }, 'sync: referrers not copied');
    }
  }

  /** At shutdown an image being copied stops before its next fetch (it is not stored; the next pull starts it again). */
  private refuseIfClosed(): void {
    if (this.closed()) throw new UpstreamError('unavailable', 'Berth is shutting down');
  }

  private async held(name: string, digest: Digest): Promise<boolean> {
    return this.registry.manifests.head(name, { digest }).then(
      () => true,
      () => false,
    );
  }
}
