/**
 * When each tag fetched through the cache was last confirmed upstream (zot's
 * manifest_check_tracker): a tag confirmed within manifestCheckInterval is served without asking.
 * Entries past their interval are dropped when looked up, and swept now and then when one is added,
 * so the map holds only the tags pulled within an interval, without a timer of its own.
 */
const SWEEP_EVERY_MS = 10 * 60_000;

export class FreshnessTracker {
  private readonly confirmed = new Map<string, number>();
  private sweptAt = Date.now();
  /** The longest interval seen: what a sweep may drop. */
  private longest = 0;

  /** Whether `tag` of `name` should be checked upstream now. */
  due(name: string, tag: string, intervalMs: number): boolean {
    this.longest = Math.max(this.longest, intervalMs);
    const key = `${name}\0${tag}`;
    const at = this.confirmed.get(key);
    if (at === undefined) return true;
    if (Date.now() - at < intervalMs) return false;
    this.confirmed.delete(key);
    return true;
  }

  /** When `tag` of `name` was last confirmed upstream (ms), if within the longest interval. */
  checkedAt(name: string, tag: string): number | undefined {
    return this.confirmed.get(`${name}\0${tag}`);
  }

  /** `tag` of `name` was just confirmed (or fetched) upstream. */
  checked(name: string, tag: string): void {
    const now = Date.now();
    this.confirmed.set(`${name}\0${tag}`, now);
    if (now - this.sweptAt < SWEEP_EVERY_MS) return;
    this.sweptAt = now;
    for (const [key, at] of this.confirmed) if (now - at >= this.longest) this.confirmed.delete(key);
  }
}
