/**
 * What the rest of Berth records for /metrics, apart from prom-client: metrics.ts implements it
 * when `extensions.metrics` is on, and `NO_METRICS` when it is off, so a registry without metrics
 * never loads prom-client (nor its default collectors: an event-loop delay monitor and a GC
 * observer that would run for nobody).
 */
import type { Collection } from '../maintenance/garbage-collector.js';
import type { ScrubResult } from '../maintenance/scrub.js';

/** A counter as its callers use it: `inc(labels)`. */
interface LabelledCounter<Labels extends string> {
  inc(labels: Record<Labels, string>): void;
}

export interface MetricEvents {
  /** Sign-ins and credential checks by method and result. */
  readonly authentications: LabelledCounter<'method' | 'result'>;
  /** Sign-in attempts the limits refused unchecked, by scope. */
  readonly signInBlocked: LabelledCounter<'scope'>;
  recordCollection(outcome: Collection | Error): void;
  recordScrub(results: ScrubResult[]): void;
}

/** Metrics off (`extensions.metrics` absent): every record is dropped. */
export const NO_METRICS: MetricEvents = {
  authentications: { inc: () => undefined },
  signInBlocked: { inc: () => undefined },
  recordCollection: () => undefined,
  recordScrub: () => undefined,
};
