/**
 * The periodic maintenance of a running server: garbage collection every gcInterval (when
 * `storage.gc`) and scrub every `extensions.scrub.interval`, each reading the config in force.
 * Each round runs through `exclusive`, so of several replicas only one collects at a time; a round
 * another replica holds is skipped here (undefined), not queued.
 */
import type { BerthConfig } from '../config/config.js';
import type { Collection } from './garbage-collector.js';
import { runPeriodically } from './periodic.js';
import type { Registry } from './registry.js';
import type { ScrubResult } from './scrub.js';

export interface MaintenanceReports {
  collected(outcome: Collection | Error): void;
  scrubbed(outcome: ScrubResult[] | Error): void;
}

/** Runs `work` unless another holder has the lock `key` right now (then undefined). */
export type TryLock = <T>(key: string, work: () => Promise<T>) => Promise<T | undefined>;
export type MaintenanceTask = 'gc' | 'scrub';

/** The lock one maintenance round holds, shared by every replica and by `berth gc`. */
export function maintenanceLock(task: MaintenanceTask): string {
  return `maintenance:${task}`;
}

export function startMaintenance(registry: Registry, config: () => BerthConfig, tryLock: TryLock, reports: MaintenanceReports): { stop(): void } {
  const exclusive = <T>(task: MaintenanceTask, work: () => Promise<T>) => tryLock(maintenanceLock(task), work);
  const gc = runPeriodically(
    () => ({ enabled: config().storage.gc, intervalMs: config().storage.gcIntervalMs }),
    () => exclusive('gc', () => registry.gc.collect()),
    (outcome) => outcome !== undefined && reports.collected(outcome),
  );
  const scrub = runPeriodically(
    () => ({ enabled: config().extensions.scrub !== undefined, intervalMs: config().extensions.scrub?.intervalMs ?? 0 }),
    () => exclusive('scrub', () => registry.scrubber.scrub()),
    (outcome) => outcome !== undefined && reports.scrubbed(outcome),
  );
  return {
    stop() {
      gc.stop();
      scrub.stop();
    },
  };
}
