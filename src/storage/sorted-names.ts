/**
 * The catalog's repository names, kept sorted: `_catalog` and the UI's repository list read a
 * page of it by binary search, so a page costs the page, not a sort of every repository. The array
 * handed out is frozen and replaced (never changed) when a name is added, so a caller iterating
 * over it (garbage collection, scrub) sees one consistent list.
 */

/** Index of the first name sorting after `name` (default JavaScript order, as `.sort()`). */
export function firstAfter(sorted: readonly string[], name: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class SortedNames {
  private names: readonly string[];

  constructor(names: Iterable<string>) {
    this.names = Object.freeze([...new Set(names)].sort());
  }

  /** Every name, sorted; frozen. */
  get all(): readonly string[] {
    return this.names;
  }

  /** Adds a name (one copy of the array: a new repository is rare next to reads of the list). */
  add(name: string): void {
    const at = firstAfter(this.names, name);
    if (this.names[at - 1] === name) return;
    this.names = Object.freeze([...this.names.slice(0, at), name, ...this.names.slice(at)]);
  }

  /** Removes a name (one copy of the array, as `add`). */
  remove(name: string): void {
    const at = firstAfter(this.names, name);
    if (this.names[at - 1] !== name) return;
    this.names = Object.freeze([...this.names.slice(0, at - 1), ...this.names.slice(at)]);
  }
}
