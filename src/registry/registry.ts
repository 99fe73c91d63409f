/** The registry's services over one store, as the HTTP layer sees them. */
import type { Store } from '../storage/store.js';
import { BlobService } from './blobs.js';
import { ListingService } from './listings.js';
import { ManifestCatalog } from './manifest-catalog.js';
import { ManifestService } from './manifests.js';

export class Registry {
  readonly manifests: ManifestService;
  readonly blobs: BlobService;
  readonly listings: ListingService;

  constructor(readonly store: Store) {
    const catalog = new ManifestCatalog(store);
    this.manifests = new ManifestService(store, catalog);
    this.blobs = new BlobService(store, catalog);
    this.listings = new ListingService(store, catalog);
  }
}
