/** Bounded concurrency for many independent awaits (reads, deletes, part copies). */

/**
 * Runs `work` on every item, at most `limit` at once, in the items' order of starting; rejects with
 * the first failure (the calls already started run on). Items are taken one at a time as a call
 * ends, so a generator makes each only when it is due.
 */
export async function inParallel<T>(items: Iterable<T>, limit: number, work: (item: T, index: number) => Promise<unknown>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  let index = 0;
  const worker = async () => {
    for (let next = iterator.next(); !next.done; next = iterator.next()) await work(next.value, index++);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}
