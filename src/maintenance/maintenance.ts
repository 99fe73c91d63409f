/**
 * The periodic maintenance of a running server: garbage collection every gcInterval (when
 * `storage.gc`) and scrub every `extensions.scrub.interval`, each reading the config in force.
 * Each round runs through `exclusive`, so of several replicas only one collects at a time; a round
 * another replica holds is skipped here (undefined), not queued.
 */
import type { BerthConfig } from '../config/config.js';
import { GarbageCollector, type Collection, type GcOptions } from './garbage-collector.js';
import { runPeriodically } from './periodic.js';
import type { Registry } from '../registry/registry.js';
import { Scrubber, type ScrubResult } from './scrub.js';

/** The maintenance services over a registry's store: garbage collection (with retention) and scrub. */
export class Maintenance {
  readonly gc: GarbageCollector;
  readonly scrubber: Scrubber;

  /** `gcOptions` is read at each collection, so a reloaded config applies to the next one. */
  constructor(registry: Registry, gcOptions: () => GcOptions) {
    this.gc = new GarbageCollector(registry.store, registry.catalog, gcOptions);
    this.scrubber = new Scrubber(registry.store);
  }
}

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

export function startMaintenance(services: Maintenance, config: () => BerthConfig, tryLock: TryLock, reports: MaintenanceReports): { stop(): void } {
  const exclusive = <T>(task: MaintenanceTask, work: () => Promise<T>) => tryLock(maintenanceLock(task), work);
  const gc = runPeriodically(
    () => ({ enabled: config().storage.gc, intervalMs: config().storage.gcIntervalMs }),
    () => exclusive('gc', () => services.gc.collect()),
    (outcome) => outcome !== undefined && reports.collected(outcome),
  );
  const scrub = runPeriodically(
    () => ({ enabled: config().extensions.scrub !== undefined, intervalMs: config().extensions.scrub?.intervalMs ?? 0 }),
    () => exclusive('scrub', () => services.scrubber.scrub()),
    (outcome) => outcome !== undefined && reports.scrubbed(outcome),
  );
  return {
    stop() {
      gc.stop();
      scrub.stop();
    },
  };
}
