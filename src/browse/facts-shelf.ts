/**
 * The manifests' facts (entry-facts.ts) of each repository, kept in memory and in the repository's
 * derived record (Store.readDerived), so that neither a page nor a restart reads every manifest of
 * a repository again: a repository's facts are read from one record at its first use, and only a
 * manifest the record does not know yet is read (once; then appended to the record).
 *
 * Facts are keyed by digest, which is safe whatever wrote the storage and whichever replica reads
 * it: a digest's facts never change. What a repository holds is always its index's answer: facts
 * are only ever asked for the digests of the index version being shown.
 */
import type { Descriptor } from '../oci/manifest.js';
import { inParallel } from '../coordination/in-parallel.js';
import { Lru } from '../registry/lru.js';
import type { Store } from '../storage/store.js';
import { factsLine, parseFactsRecord, type EntryFacts } from './entry-facts.js';
import type { Platform } from './manifest-insight.js';

/** Facts held in memory, all repositories together (a few hundred bytes each). */
const MAX_FACTS = 500_000;
/** Manifests read at once while a repository's missing facts are filled. */
const READS_IN_FLIGHT = 16;
/** A record with more lines than this many times the index's entries (plus slack) is rewritten. */
const COMPACT_RATIO = 2;
const COMPACT_SLACK = 64;

interface Shelf {
  facts: Map<string, EntryFacts>;
  /** Lines in the record on disk (what a compaction would drop). */
  lines: number;
  /** One string per blob digest and media type (a layer shared by 8,000 tags is one string, not 8,000). */
  digests: Map<string, string>;
  platforms: Map<string, Platform>;
}

/** Reads one manifest's facts from storage; undefined when its bytes are gone. */
export type FactsReader = (name: string, entry: Pick<Descriptor, 'digest' | 'mediaType' | 'size'>) => Promise<EntryFacts | undefined>;

export class FactsShelf {
  private readonly shelves = new Lru<string, Shelf>(MAX_FACTS, (shelf) => Math.max(1, shelf.facts.size));
  private readonly loading = new Map<string, Promise<Shelf>>();

  constructor(
    private readonly store: Store,
    private readonly read: FactsReader,
  ) {}

  /**
   * The facts of every entry of `entries` (one index version of `name`), by digest. Entries whose
   * manifest is gone have none. Reads only what neither memory nor the record holds.
   */
  async of(name: string, entries: Iterable<Descriptor>): Promise<Map<string, EntryFacts>> {
    const shelf = await this.shelf(name);
    const missing = new Map<string, Descriptor>();
    for (const entry of entries) if (shelf.facts.get(entry.digest)?.mediaType !== entry.mediaType) missing.set(entry.digest, entry);
    if (missing.size > 0) await this.fill(name, shelf, [...missing.values()]);
    return shelf.facts;
  }

  /** Starts reading `name`'s record, if it is not held, while the caller reads the index. */
  prefetch(name: string): void {
    void this.shelf(name).catch(() => undefined);
  }

  /** Drops what is held for `name` (a repository that turned out not to exist: no shelf for every name asked). */
  forget(name: string): void {
    this.shelves.delete(name);
    void this.loading.get(name)?.then(
      () => this.shelves.delete(name),
      () => undefined,
    );
  }

  /** One manifest's facts (a child an index lists but its repository's index does not). */
  async one(name: string, entry: Pick<Descriptor, 'digest' | 'mediaType' | 'size'>): Promise<EntryFacts | undefined> {
    const shelf = await this.shelf(name);
    const known = shelf.facts.get(entry.digest);
    if (known?.mediaType === entry.mediaType) return known;
    await this.fill(name, shelf, [entry]);
    return shelf.facts.get(entry.digest);
  }

  /**
   * Rewrites the record with only the facts `keep` names, when it has grown well past them (tags
   * deleted, manifests re-read). Not awaited by pages; a failure leaves the record as it was.
   */
  compact(name: string, keep: ReadonlySet<string>): void {
    const shelf = this.shelves.get(name);
    if (!shelf || shelf.lines <= COMPACT_RATIO * keep.size + COMPACT_SLACK) return;
    const kept = [...shelf.facts.values()].filter((facts) => keep.has(facts.digest));
    shelf.lines = kept.length;
    void this.store.replaceDerived(name, kept.map(factsLine).join('')).catch(() => undefined);
  }

  private async shelf(name: string): Promise<Shelf> {
    const held = this.shelves.get(name);
    if (held) return held;
    let loading = this.loading.get(name);
    if (!loading) {
      loading = this.load(name).finally(() => this.loading.delete(name));
      this.loading.set(name, loading);
    }
    return loading;
  }

  private async load(name: string): Promise<Shelf> {
    const record = await this.store.readDerived(name).catch(() => '');
    const parsed = parseFactsRecord(record);
    const shelf: Shelf = { facts: new Map(), lines: parsed.length, digests: new Map(), platforms: new Map() };
    // Later lines win (a manifest re-read as another media type).
    for (const facts of parsed) shelf.facts.set(facts.digest, intern(shelf, facts));
    this.shelves.set(name, shelf);
    return shelf;
  }

  private async fill(name: string, shelf: Shelf, entries: Array<Pick<Descriptor, 'digest' | 'mediaType' | 'size'>>): Promise<void> {
    const found: EntryFacts[] = [];
    await inParallel(entries, READS_IN_FLIGHT, async (entry) => {
      const facts = await this.read(name, entry);
      if (facts) found.push(intern(shelf, facts));
    });
    if (found.length === 0) return;
    for (const facts of found) shelf.facts.set(facts.digest, facts);
    shelf.lines += found.length;
    // The LRU weighs a shelf when it is set: set again now that it holds more.
    this.shelves.set(name, shelf);
    // Not awaited: the page has its facts; a lost append only means reading these manifests again.
    void this.store.appendDerived(name, found.map(factsLine).join('')).catch(() => undefined);
  }
}

const NO_CHILDREN: string[] = Object.freeze([]) as unknown as string[];

/**
 * Shares what many facts of a repository hold alike: blob digests (a layer of 8,000 tags is one
 * string), media types and platforms, and the empty list of children. Facts are never changed once
 * made, so sharing is safe.
 */
function intern(shelf: Shelf, facts: EntryFacts): EntryFacts {
  const share = (text: string) => {
    const held = shelf.digests.get(text);
    if (held !== undefined) return held;
    shelf.digests.set(text, text);
    return text;
  };
  for (const pair of facts.blobs) pair[0] = share(pair[0]);
  facts.mediaType = share(facts.mediaType);
  if (facts.children.length === 0) facts.children = NO_CHILDREN;
  const sharePlatform = (platform: Platform) => {
    const key = `${platform.os}/${platform.architecture}/${platform.variant ?? ''}`;
    let held = shelf.platforms.get(key);
    if (!held) shelf.platforms.set(key, (held = Object.freeze({ ...platform })));
    return held;
  };
  facts.platforms = facts.platforms.map(sharePlatform);
  if (facts.pulled) facts.pulled = { platform: sharePlatform(facts.pulled.platform), size: facts.pulled.size };
  return facts;
}
