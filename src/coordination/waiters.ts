/**
 * Pauses that a timeout or a wake ends, within one process: the events' delivery loops waiting for
 * the next append (an outbox wakes them when it appends) and their backoff pauses (ended at
 * shutdown), the pull-through cache's grace before completing an image (ended by `settled`/`close`).
 */
export class Waiters {
  private readonly waiting = new Set<() => void>();

  /** Resolves at the next `wakeAll`, or after `ms`. */
  wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiting.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiting.add(wake);
    });
  }

  wakeAll(): void {
    for (const wake of [...this.waiting]) wake();
  }
}
