/** Bounded concurrency for many independent awaits (reads, deletes, part copies). */

/**
 * Runs `work` on every item, at most `limit` at once, in the items' order of starting; rejects with
 * the first failure (the calls already started run on).
 */
export async function inParallel<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
