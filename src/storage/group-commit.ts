/**
 * Group commit of index changes (`Store.changeIndex`), for every store: changes to one repository
 * that arrive while a group is being written wait together, and the next group takes all of them
 * under one hold of the repository's lock, with one write and one sync. Each caller is answered
 * after its group is on disk, with its own result or error. Eight pushes into one repository then
 * cost one index write instead of eight, one after the other.
 */
import type { IndexChange, IndexEditor, RepositoryTransaction } from './store.js';

/** A change waiting for its group. */
export interface Waiting {
  change: IndexChange<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** What one change came to: its result or error, sent once the group's write is done. */
export type Outcome = { waiting: Waiting; ok: true; value: unknown } | { waiting: Waiting; ok: false; error: unknown };

/** An index that can undo the edits of one change (live-index.ts). */
export interface UndoableIndex extends IndexEditor {
  begin(): void;
  rollBack(): void;
}

export class GroupCommit {
  private readonly queues = new Map<string, Waiting[]>();

  /**
   * `commit` takes the repository's lock, then the group (`take()`: every change waiting by then),
   * writes it and answers every change in it.
   */
  constructor(private readonly commit: (name: string, take: () => Waiting[]) => Promise<void>) {}

  submit<T>(name: string, change: IndexChange<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiting: Waiting = { change: change as IndexChange<unknown>, resolve: resolve as (value: unknown) => void, reject };
      const queue = this.queues.get(name);
      if (queue) {
        queue.push(waiting);
        return;
      }
      this.queues.set(name, [waiting]);
      void this.drain(name);
    });
  }

  /** Commits groups of `name` until no change waits; one drain per repository at a time. */
  private async drain(name: string): Promise<void> {
    const queue = this.queues.get(name)!;
    try {
      while (queue.length > 0) {
        // The group is taken inside the lock: whatever arrived while waiting for it joins.
        let group: Waiting[] = [];
        try {
          await this.commit(name, () => (group = queue.splice(0)));
        } catch (error) {
          // What failed before any answer (the lock, reading the index); answering twice is a no-op.
          if (group.length === 0) group = queue.splice(0);
          for (const waiting of group) waiting.reject(error);
        }
      }
    } finally {
      this.queues.delete(name);
    }
  }
}

/**
 * Runs a group's changes: every `prepare` side by side, then every `apply` in arrival order on
 * `index`, undoing the edits of one that throws. Nothing is answered yet.
 */
export async function runGroup(group: Waiting[], transaction: RepositoryTransaction, index: UndoableIndex): Promise<Outcome[]> {
  const prepared = await Promise.allSettled(group.map(async (waiting) => waiting.change.prepare?.(transaction)));
  return group.map((waiting, at): Outcome => {
    const ready = prepared[at]!;
    if (ready.status === 'rejected') return { waiting, ok: false, error: ready.reason };
    index.begin();
    try {
      return { waiting, ok: true, value: waiting.change.apply(index) };
    } catch (error) {
      index.rollBack();
      return { waiting, ok: false, error };
    }
  });
}

/**
 * Answers a group: each its outcome, or every successful one `failure` when the write failed. Called
 * under the repository's lock once the group is on disk: the `committed` hooks run first, in order
 * (one that throws fails only its own caller: the write is done, but what had to follow it is not).
 */
export function answer(outcomes: Outcome[], failure?: unknown): void {
  const settled = outcomes.map((outcome): Outcome => {
    if (!outcome.ok || failure !== undefined) return outcome;
    try {
      outcome.waiting.change.committed?.(outcome.value);
      return outcome;
    } catch (error) {
      return { waiting: outcome.waiting, ok: false, error };
    }
  });
  for (const outcome of settled) {
    if (!outcome.ok) outcome.waiting.reject(outcome.error);
    else if (failure !== undefined) outcome.waiting.reject(failure);
    else outcome.waiting.resolve(outcome.value);
  }
}
