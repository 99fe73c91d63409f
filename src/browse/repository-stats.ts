/**
 * Storage figures per repository for the operator's metrics: bytes of the blob files the
 * repository holds (each once, referenced or awaiting garbage collection), tags, manifests and the
 * newest push. Recomputed at most every 30 s: a scrape must not walk every blob folder each time.
 */
import type { Store } from '../storage/store.js';
import { countTags, newestPush, type RepositoryFigures } from './repository-figures.js';

const CACHE_MS = 30_000;

export class RepositoryStatistics {
  private cached: { at: number; stats: Promise<Array<RepositoryFigures & { manifestCount: number }>> } | undefined;

  constructor(private readonly store: Store) {}

  /** The figures, with the distinct manifests in each index (a gauge of its own). */
  all(now = Date.now()): Promise<Array<RepositoryFigures & { manifestCount: number }>> {
    if (!this.cached || now - this.cached.at > CACHE_MS) this.cached = { at: now, stats: this.compute() };
    return this.cached.stats;
  }

  private async compute(): Promise<Array<RepositoryFigures & { manifestCount: number }>> {
    const stats: Array<RepositoryFigures & { manifestCount: number }> = [];
    for (const name of await this.store.listRepositories()) {
      const [index, blobs] = await Promise.all([this.store.readIndex(name).catch(() => undefined), this.store.listBlobs(name)]);
      if (!index) continue;
      const lastPush = newestPush(index.manifests);
      stats.push({
        name,
        size: blobs.reduce((sum, blob) => sum + blob.size, 0),
        tagCount: countTags(index.manifests),
        manifestCount: new Set(index.manifests.map((entry) => entry.digest)).size,
        ...(lastPush ? { lastPush } : {}),
      });
    }
    return stats;
  }
}
