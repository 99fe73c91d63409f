/**
 * Tags, the catalog and referrers. Spec: distribution-spec v1.1 "Listing Tags", "Listing
 * Referrers", and distribution's `/v2/_catalog` (which the spec leaves to registries).
 */
import { isErrorKey } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import { assertValidName } from '../oci/names.js';
import { OCI_INDEX } from '../oci/media-types.js';
import type { Descriptor } from '../oci/manifest.js';
import { firstAfter } from '../storage/sorted-names.js';
import type { Store } from '../storage/store.js';
import type { ManifestCatalog } from './manifest-catalog.js';

/** No single page is larger than this, whatever `n` asks: a page is built in memory. */
export const MAX_PAGE = 10_000;

export interface Page {
  items: string[];
  /** Set when more items follow: the `last` value for the next page. */
  next?: string;
}

export function paginate(sorted: readonly string[], n: number | undefined, last: string | undefined): Page {
  // First item strictly after `last`, by binary search over the sorted list.
  const from = last === undefined ? 0 : firstAfter(sorted, last);
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

  /**
   * Repositories for which `visible` holds (the caller's read permission; `undefined` when the
   * caller reads every repository), paginated. Reads the store's sorted list from `last` on: a page
   * costs a binary search and the names it looks at, never a pass over every repository (a caller
   * who may read few of them makes it look at those it may not).
   */
  async repositories(n: number | undefined, last: string | undefined, visible: ((name: string) => boolean) | undefined): Promise<Page> {
    const sorted = await this.store.listRepositories();
    const limit = Math.min(n ?? MAX_PAGE, MAX_PAGE);
    const from = last === undefined ? 0 : firstAfter(sorted, last);
    if (!visible) return paginate(sorted.slice(from, from + limit + 1), limit, undefined);
    const items: string[] = [];
    // One more than the page: whether another follows decides the Link header.
    for (let i = from; i < sorted.length && items.length <= limit; i++) if (visible(sorted[i]!)) items.push(sorted[i]!);
    return paginate(items, limit, undefined);
  }

  /** An OCI index of the manifests whose `subject` is `digest`; empty when there are none. */
  async referrers(name: string, digest: Digest, artifactType?: string): Promise<{ schemaVersion: 2; mediaType: string; manifests: Descriptor[] }> {
    assertValidName(name);
    const all = await this.catalog.allFacts(name).catch((error: unknown) => {
      if (isErrorKey(error, 'NAME_UNKNOWN')) return [];
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
