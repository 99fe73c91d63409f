/**
 * A repository's figures, the one shape for them: the UI's repository list and page, /api/ui and
 * the Prometheus gauges all read these. One unit per field: sizes in bytes, the last push a Date
 * (JSON turns it into the ISO time the API has always sent; metrics take its seconds).
 */
import type { Descriptor } from '../oci/manifest.js';
import { PUSHED_AT, REF_NAME } from '../storage/store.js';

export interface RepositoryFigures {
  name: string;
  /** Distinct tags in the repository's index. */
  tagCount: number;
  /** Bytes, each blob once (what is counted is said where the figures are computed). */
  size: number;
  /** The newest push Berth recorded (the index entries' push annotation); absent when none did. */
  lastPush?: Date;
}

/** Distinct tags among index entries. */
export function countTags(entries: readonly Descriptor[]): number {
  return new Set(entries.map((entry) => entry.annotations?.[REF_NAME]).filter((tag) => tag !== undefined)).size;
}

/** The newest push time among index entries, when any has one. */
export function newestPush(entries: readonly Descriptor[]): Date | undefined {
  let newest = Number.NEGATIVE_INFINITY;
  for (const entry of entries) {
    const pushed = Date.parse(entry.annotations?.[PUSHED_AT] ?? '');
    if (pushed > newest) newest = pushed;
  }
  return Number.isFinite(newest) ? new Date(newest) : undefined;
}
