/**
 * A repository's index.json held as a map from entry key to descriptor, so that one change costs
 * the same in a repository of 10 tags as in one of 10,000: a tag is found, moved or removed
 * without walking the list, and a change is recorded as a small delta (`IndexDelta`) for the
 * index journal (index-journal.ts) instead of a new index.json.
 *
 * The key of an entry is its tag (`org.opencontainers.image.ref.name`), or `@<digest>` for an
 * untagged one; a Map keeps insertion order, and every `put` appends, so the order of `manifests`
 * is the order in which entries were last written, as when index.json was rewritten whole. An
 * index read from disk that holds one key twice (zot never writes that) keeps the last, which is
 * the one a lookup by tag found before.
 */
import type { Descriptor } from '../oci/manifest.js';
import { REF_NAME, type IndexEditor, type OciIndexFile } from './store.js';

/**
 * A change to an index, as written to the journal: remove every key of `remove`, then append the
 * entries of `add` (whose keys are all in `remove`). Replaying deltas is idempotent as a sequence:
 * each sets the keys it touches to a value that does not depend on the index it is applied to, so
 * replaying a journal over an index.json that already holds some or all of it gives the same index.
 */
export interface IndexDelta {
  remove: string[];
  add: Descriptor[];
}

/** The key of an index entry: its tag, or `@<digest>` when untagged. */
export function entryKey(entry: Descriptor): string {
  return entry.annotations?.[REF_NAME] ?? `@${entry.digest}`;
}

export class LiveIndex implements IndexEditor {
  /** index.json without `manifests`: schemaVersion, mediaType (when present), annotations, unknown keys. */
  private readonly head: Record<string, unknown>;
  private readonly entries = new Map<string, Descriptor>();
  /** How many entries name each digest (tagged or not). */
  private readonly digests = new Map<string, number>();
  private view: OciIndexFile | undefined;
  /** Keys touched since `takeDelta`, each with the number of its last `put` (the order to append in). */
  private touched = new Map<string, number>();
  private puts = 0;
  /** What `rollBack` restores: each key touched since `begin`, with its entry before (undefined: absent). */
  private undo: Array<[string, Descriptor | undefined]> = [];

  constructor(index: OciIndexFile) {
    const { manifests, ...head } = index;
    this.head = head;
    // Not `put`: nothing to undo or journal while loading (a repository of 8,000 tags loads at each start).
    for (const entry of manifests) {
      const key = entryKey(entry);
      this.drop(key);
      this.insert(key, entry);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  tagged(tag: string): Descriptor | undefined {
    // An untagged entry's key starts with '@', which no tag can.
    return this.entries.get(tag);
  }

  holds(digest: string): boolean {
    return (this.digests.get(digest) ?? 0) > 0;
  }

  /** Every entry naming `digest`. Walks the index: for deletes by digest, not for pushes. */
  withDigest(digest: string): Descriptor[] {
    if (!this.holds(digest)) return [];
    return [...this.entries.values()].filter((entry) => entry.digest === digest);
  }

  /** Adds `entry`, replacing the entry of the same key; it goes to the end of the list. */
  put(entry: Descriptor): void {
    const key = entryKey(entry);
    this.undo.push([key, this.entries.get(key)]);
    this.drop(key);
    this.insert(key, entry);
    this.touched.set(key, this.puts++);
  }

  remove(entry: Descriptor): void {
    const key = entryKey(entry);
    if (!this.entries.has(key)) return;
    this.undo.push([key, this.entries.get(key)]);
    this.drop(key);
    if (!this.touched.has(key)) this.touched.set(key, -1);
  }

  /** The index as index.json holds it; the same frozen object until the next change. */
  snapshot(): OciIndexFile {
    this.view ??= Object.freeze({ ...this.head, manifests: [...this.entries.values()] }) as OciIndexFile;
    return this.view;
  }

  /** Starts one caller's change: `rollBack` undoes what follows. */
  begin(): void {
    this.undo = [];
  }

  /** Undoes the changes since `begin` (a change that failed half way). */
  rollBack(): void {
    for (const [key, before] of this.undo.reverse()) {
      this.drop(key);
      if (before) this.insert(key, before);
    }
    this.undo = [];
  }

  /** What changed since the last call, as a journal delta (undefined when nothing did). */
  takeDelta(): IndexDelta | undefined {
    const touched = this.touched;
    this.touched = new Map();
    if (touched.size === 0) return undefined;
    const remove = [...touched.keys()];
    // Appended in the order of their last put: the order they now stand in at the end of the list.
    const add = remove
      .filter((key) => this.entries.has(key))
      .sort((a, b) => touched.get(a)! - touched.get(b)!)
      .map((key) => this.entries.get(key)!);
    return { remove, add };
  }

  /** Applies a delta read from the journal. */
  apply(delta: IndexDelta): void {
    for (const key of delta.remove) this.drop(key);
    for (const entry of delta.add) {
      const key = entryKey(entry);
      this.drop(key);
      this.insert(key, entry);
    }
  }

  private insert(key: string, entry: Descriptor): void {
    this.entries.set(key, entry);
    this.digests.set(entry.digest, (this.digests.get(entry.digest) ?? 0) + 1);
    this.view = undefined;
  }

  private drop(key: string): void {
    const old = this.entries.get(key);
    if (!old) return;
    this.entries.delete(key);
    const count = (this.digests.get(old.digest) ?? 1) - 1;
    if (count === 0) this.digests.delete(old.digest);
    else this.digests.set(old.digest, count);
    this.view = undefined;
  }
}
