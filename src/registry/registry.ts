/** The registry's services over one store, as the HTTP layer sees them. */
import type { Store } from '../storage/store.js';
import { BlobService } from './blobs.js';
import { ListingService } from './listings.js';
import { ManifestCatalog } from './manifest-catalog.js';
import { ManifestService } from './manifests.js';
import { GarbageCollector, type GcOptions } from './garbage-collector.js';
import { Scrubber } from './scrub.js';
import { RepositoryStatistics } from './repository-stats.js';

export class Registry {
  readonly manifests: ManifestService;
  readonly blobs: BlobService;
  readonly listings: ListingService;
  readonly gc: GarbageCollector;
  readonly scrubber: Scrubber;
  readonly statistics: RepositoryStatistics;

  /** `gcOptions` is read at each collection, so a reloaded config applies to the next one. */
  constructor(
    readonly store: Store,
    gcOptions: () => GcOptions,
  ) {
    const catalog = new ManifestCatalog(store);
    this.manifests = new ManifestService(store, catalog);
    this.blobs = new BlobService(store, catalog);
    this.listings = new ListingService(store, catalog);
    this.gc = new GarbageCollector(store, catalog, gcOptions);
    this.scrubber = new Scrubber(store);
    this.statistics = new RepositoryStatistics(store);
  }
}
