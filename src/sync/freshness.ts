/**
 * When each tag fetched through the cache was last confirmed upstream (zot's
 * manifest_check_tracker), and which upstream vouched for which digest: a tag confirmed within
 * manifestCheckInterval is served without asking, and a client that names its registry (`?ns=`)
 * is served Berth's copy only when an upstream of that registry vouched for it. Entries past their
 * interval are swept now and then when one is added, so the map holds only the tags pulled within
 * the longest interval, without a timer of its own.
 */
const SWEEP_EVERY_MS = 10 * 60_000;

/** An upstream said the tag is this digest. */
export interface Vouch {
  digest: string;
  upstream: string;
}

interface Confirmation {
  at: number;
  vouch?: Vouch;
}

export class FreshnessTracker {
  private readonly confirmed = new Map<string, Confirmation>();
  private sweptAt = Date.now();
  /** The longest interval seen: what a sweep may drop. */
  private longest = 0;

  /** Whether `tag` of `name` should be checked upstream now. */
  due(name: string, tag: string, intervalMs: number): boolean {
    this.longest = Math.max(this.longest, intervalMs);
    const entry = this.confirmed.get(`${name}\0${tag}`);
    // Past its interval the entry stays (what it vouched for still counts) until the next check or sweep.
    return entry === undefined || Date.now() - entry.at >= intervalMs;
  }

  /** When `tag` of `name` was last confirmed upstream (ms), if within the longest interval. */
  checkedAt(name: string, tag: string): number | undefined {
    return this.confirmed.get(`${name}\0${tag}`)?.at;
  }

  /** The upstream that last said what `tag` of `name` is, if within the longest interval. */
  vouchFor(name: string, tag: string): Vouch | undefined {
    return this.confirmed.get(`${name}\0${tag}`)?.vouch;
  }

  /**
   * `tag` of `name` was just confirmed (or fetched) upstream: `vouch` says by which upstream, as
   * which digest. Without it (the upstream could not say), what was last vouched stands.
   */
  checked(name: string, tag: string, vouch?: Vouch): void {
    const now = Date.now();
    const key = `${name}\0${tag}`;
    const before = this.confirmed.get(key)?.vouch;
    const kept = vouch ?? before;
    this.confirmed.set(key, kept ? { at: now, vouch: kept } : { at: now });
    if (now - this.sweptAt < SWEEP_EVERY_MS) return;
    this.sweptAt = now;
    for (const [entryKey, entry] of this.confirmed) if (now - entry.at >= this.longest) this.confirmed.delete(entryKey);
  }
}
