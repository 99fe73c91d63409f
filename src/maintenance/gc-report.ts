/** One garbage collection in words and numbers, for the log and `berth gc`. */
import type { Collection } from './garbage-collector.js';

export function summarizeCollection(collection: Collection) {
  const sum = (pick: (item: Collection['repositories'][number]) => unknown[]) => collection.repositories.reduce((total, item) => total + pick(item).length, 0);
  return {
    dryRun: collection.dryRun,
    repositories: collection.repositories.length,
    tags: sum((item) => item.tags),
    manifests: sum((item) => item.manifests),
    blobs: sum((item) => item.blobs),
    uploads: sum((item) => item.uploads),
    bytesFreed: collection.bytesFreed,
  };
}

/** Lines for a terminal: one per repository that lost anything, then the totals. */
export function describeCollection(collection: Collection): string[] {
  const lines: string[] = [];
  const verb = collection.dryRun ? 'would remove' : 'removed';
  for (const item of collection.repositories) {
    const parts = [
      item.tags.length ? `${item.tags.length} tag(s) ${item.tags.join(', ')}` : '',
      item.manifests.length ? `${item.manifests.length} manifest(s)` : '',
      item.blobs.length ? `${item.blobs.length} blob(s)` : '',
      item.uploads.length ? `${item.uploads.length} upload(s)` : '',
    ].filter(Boolean);
    if (parts.length) lines.push(`${item.repository}: ${verb} ${parts.join(', ')}; ${item.bytesFreed} bytes freed`);
  }
  const total = summarizeCollection(collection);
  lines.push(
    `${collection.dryRun ? 'dry run: ' : ''}${total.repositories} repositories: ${verb} ${total.tags} tags, ${total.manifests} manifests, ${total.blobs} blobs, ${total.uploads} uploads; ${total.bytesFreed} bytes freed`,
  );
  return lines;
}
