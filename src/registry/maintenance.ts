/**
 * The periodic maintenance of a running server: garbage collection every gcInterval (when
 * `storage.gc`) and scrub every `extensions.scrub.interval`, each reading the config in force.
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

export function startMaintenance(registry: Registry, config: () => BerthConfig, reports: MaintenanceReports): { stop(): void } {
  const gc = runPeriodically(
    () => ({ enabled: config().storage.gc, intervalMs: config().storage.gcIntervalMs }),
    () => registry.gc.collect(),
    reports.collected,
  );
  const scrub = runPeriodically(
    () => ({ enabled: config().extensions.scrub !== undefined, intervalMs: config().extensions.scrub?.intervalMs ?? 0 }),
    () => registry.scrubber.scrub(),
    reports.scrubbed,
  );
  return {
    stop() {
      gc.stop();
      scrub.stop();
    },
  };
}
