/**
 * Runs a maintenance task (garbage collection, scrub) every interval, with up to 10% jitter so
 * restarts and replicas do not line up, reading the settings in force at each turn. One run at a
 * time; a failure is reported and the next turn still comes.
 */
export interface Periodic {
  stop(): void;
}

export function runPeriodically<T>(settings: () => { enabled: boolean; intervalMs: number }, task: () => Promise<T>, report: (outcome: T | Error) => void): Periodic {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const next = () => {
    if (stopped) return;
    const delay = Math.max(1_000, settings().intervalMs) * (1 + Math.random() * 0.1);
    timer = setTimeout(async () => {
      if (settings().enabled) {
        try {
          report(await task());
        } catch (error) {
          report(error as Error);
        }
      }
      next();
    }, delay);
    timer.unref();
  };
  next();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
