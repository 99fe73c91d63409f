/**
 * Tags, the catalog and referrers. Spec: distribution-spec v1.1 "Listing Tags", "Listing
 * Referrers", and distribution's `/v2/_catalog` (which the spec leaves to registries).
 */
import { RegistryError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import { assertValidName } from '../oci/names.js';
import { OCI_INDEX } from '../oci/media-types.js';
import type { Descriptor } from '../oci/manifest.js';
import type { Store } from '../storage/store.js';
import type { ManifestCatalog } from './manifest-catalog.js';

/** No single page is larger than this, whatever `n` asks: a page is built in memory. */
export const MAX_PAGE = 10_000;

export interface Page {
  items: string[];
  /** Set when more items follow: the `last` value for the next page. */
  next?: string;
}

export function paginate(sorted: string[], n: number | undefined, last: string | undefined): Page {
  let from = 0;
  if (last !== undefined) {
    // First item strictly after `last`, by binary search over the sorted list.
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]! <= last) lo = mid + 1;
      else hi = mid;
    }
    from = lo;
  }
  const limit = Math.min(n ?? MAX_PAGE, MAX_PAGE);
  const items = sorted.slice(from, from + limit);
  const more = from + limit < sorted.length && items.length > 0;
  return more ? { items, next: items[items.length - 1]! } : { items };
}

export class ListingService {
  constructor(
    private readonly store: Store,
    private readonly catalog: ManifestCatalog,
  ) {}

  async tags(name: string, n?: number, last?: string): Promise<Page> {
    assertValidName(name);
    return paginate(await this.catalog.tags(name), n, last);
  }

  /** Repositories for which `visible` holds (the caller's read permission), paginated. */
  async repositories(n: number | undefined, last: string | undefined, visible: (name: string) => boolean): Promise<Page> {
    return paginate((await this.store.listRepositories()).filter(visible), n, last);
  }

  /** An OCI index of the manifests whose `subject` is `digest`; empty when there are none. */
  async referrers(name: string, digest: Digest, artifactType?: string): Promise<{ schemaVersion: 2; mediaType: string; manifests: Descriptor[] }> {
    assertValidName(name);
    const all = await this.catalog.allFacts(name).catch((error: unknown) => {
      if (error instanceof RegistryError && error.key === 'NAME_UNKNOWN') return [];
      throw error;
    });
    const manifests: Descriptor[] = [];
    for (const { entry, facts } of all) {
      if (facts.subject !== digest.value) continue;
      if (artifactType !== undefined && facts.artifactType !== artifactType) continue;
      manifests.push({
        mediaType: facts.mediaType,
        digest: entry.digest,
        size: facts.size,
        ...(facts.artifactType ? { artifactType: facts.artifactType } : {}),
        ...(facts.annotations ? { annotations: facts.annotations } : {}),
      });
    }
    return { schemaVersion: 2, mediaType: OCI_INDEX, manifests };
  }
}
