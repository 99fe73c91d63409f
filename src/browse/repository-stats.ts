/**
 * Storage figures per repository for the operator's metrics: bytes on disk (each blob file once),
 * tags, manifests and the newest push. Recomputed at most every 30 s: a scrape must not walk every
 * blob folder each time.
 */
import { PUSHED_AT, REF_NAME, type Store } from '../storage/store.js';

export interface RepositoryStats {
  name: string;
  bytes: number;
  tags: number;
  manifests: number;
  /** Seconds since the epoch. */
  lastPush?: number;
}

const CACHE_MS = 30_000;

export class RepositoryStatistics {
  private cached: { at: number; stats: Promise<RepositoryStats[]> } | undefined;

  constructor(private readonly store: Store) {}

  all(now = Date.now()): Promise<RepositoryStats[]> {
    if (!this.cached || now - this.cached.at > CACHE_MS) this.cached = { at: now, stats: this.compute() };
    return this.cached.stats;
  }

  private async compute(): Promise<RepositoryStats[]> {
    const stats: RepositoryStats[] = [];
    for (const name of await this.store.listRepositories()) {
      const [index, blobs] = await Promise.all([this.store.readIndex(name).catch(() => undefined), this.store.listBlobs(name)]);
      if (!index) continue;
      const pushes = index.manifests.map((entry) => Date.parse(entry.annotations?.[PUSHED_AT] ?? '')).filter((time) => !Number.isNaN(time));
      stats.push({
        name,
        bytes: blobs.reduce((sum, blob) => sum + blob.size, 0),
        tags: new Set(index.manifests.map((entry) => entry.annotations?.[REF_NAME]).filter((tag) => tag !== undefined)).size,
        manifests: new Set(index.manifests.map((entry) => entry.digest)).size,
        ...(pushes.length > 0 ? { lastPush: Math.max(...pushes) / 1000 } : {}),
      });
    }
    return stats;
  }
}
