/**
 * The registry's services over one store, as the HTTP layer sees them. Maintenance (maintenance/)
 * and the UI's read models (browse/) are built beside it, on the same store and catalog.
 */
import type { Store } from '../storage/store.js';
import { BlobService } from './blobs.js';
import { ListingService } from './listings.js';
import { ManifestCatalog } from './manifest-catalog.js';
import { ManifestService } from './manifests.js';

export class Registry {
  readonly catalog: ManifestCatalog;
  readonly manifests: ManifestService;
  readonly blobs: BlobService;
  readonly listings: ListingService;

  constructor(readonly store: Store) {
    this.catalog = new ManifestCatalog(store);
    this.manifests = new ManifestService(store, this.catalog);
    this.blobs = new BlobService(store, this.catalog);
    this.listings = new ListingService(store, this.catalog);
  }
}
