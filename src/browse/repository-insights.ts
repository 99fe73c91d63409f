/**
 * Browsing the registry (the web UI and its API): repositories with tag counts, sizes and last
 * push, tags with kind, platforms and size, and one image in detail. Read from storage only:
 * index.json (cached by the store per version); each manifest's facts (facts-shelf.ts: read once,
 * kept in memory and in the repository's derived record, so a restart does not read every manifest
 * again); per index version, one view (repository-view.ts: figures, tag orders, referrers,
 * parents, untagged count, tags), saved for that version (tag-table.ts, saved-views.ts) so that the
 * first repository page or list after a start reads neither index.json nor the facts; the
 * repositories' push order (push-order.ts). A page then reads only its own rows (badges from the
 * view's referrers, an index's pulled size from its facts):
 * manifest bytes from the registry's manifest catalog (repository-scoped: `scopedKey`), configs
 * cached here under the same scoped key, for good (content-addressed bytes never change).
 *
 * Callers filter by permission before asking: `repositories` takes a `visible` predicate and
 * computes details only for the page it returns, so a page never costs a walk over every image.
 */
import { isErrorKey, RegistryError } from '../oci/errors.js';
import { parseDigest } from '../oci/digest.js';
import { REF_NAME, type OciIndexFile, type Store } from '../storage/store.js';
import type { Descriptor } from '../oci/manifest.js';
import { Lru } from '../registry/lru.js';
import { scopedKey, type ManifestCatalog } from '../registry/manifest-catalog.js';
import type { ManifestWrite } from '../registry/manifest-writes.js';
import { newestPush, type RepositoryFigures } from './repository-figures.js';
import { pulledPlatform, type EntryFacts } from './entry-facts.js';
import { composeImage, type ImageInputs } from './image-detail.js';
import { aboutInView } from './image-source.js';
import { FactsShelf } from './facts-shelf.js';
import { ListedNames } from './listed-names.js';
import { PushOrder } from './push-order.js';
import { viewOf, type RepositoryView } from './repository-view.js';
import { SavedViews } from './saved-views.js';
import { SavedViewUnreadable, tableOfView, type SavedImageReads, type TagTable } from './tag-table.js';
import { paginate, paginateBackwards, type ImageDetail, type PageOf, type RepositoryDetail, type RepositorySort, type TagSort } from './insight-types.js';
import { inspectConfig, inspectManifest, type BlobInsight, type ConfigInsight, type ManifestInsight, type Platform } from './manifest-insight.js';

/** Configs above this are not parsed for display (a config is normally a few KiB). */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
const NESTING_LIMIT = 4;
/** Tag rows of the tables held in memory, all repositories together. */
const MAX_TABLE_ROWS = 200_000;

// The shapes live in insight-types.ts; the pages and routes import them from here, with the model.
export * from './insight-types.js';

export class RepositoryInsights {
  /**
   * A manifest as parsed for display, by the media type it was read as, for as long as the catalog
   * caches those bytes (the catalog's cache, keyed by repository and digest, decides what is read).
   */
  private readonly insights = new WeakMap<Buffer, Map<string, ManifestInsight | null>>();
  private readonly configs = new Lru<string, ConfigInsight | null>(20_000);
  private readonly views = new WeakMap<OciIndexFile, Promise<RepositoryView>>();
  /** Each repository's table for the index version it was made for (`Store.indexVersion`). */
  private readonly tables = new Lru<string, { version: string; table: Promise<TagTable>; rows: number }>(MAX_TABLE_ROWS, (held) => Math.max(1, held.rows));
  private readonly saved: SavedViews;
  private readonly shelf: FactsShelf;
  private readonly pushOrder: PushOrder;
  /** The names the list shows: the store's, or while its walk runs after a start, those saved by the last one. */
  private readonly names: ListedNames;

  constructor(
    private readonly store: Store,
    private readonly catalog: ManifestCatalog,
  ) {
    this.shelf = new FactsShelf(store, (name, entry) => this.readFacts(name, entry));
    this.saved = new SavedViews(store);
    this.pushOrder = new PushOrder(store, async (name) => newestPush((await this.store.readIndex(name)).manifests));
    this.names = new ListedNames(store);
  }

  /**
   * Follows the manifest service's writes (its `afterWrite` listener): a push moves its repository
   * to the front of the push order at once. Synchronous work only; never fails a write.
   */
  noteWrites(writes: readonly ManifestWrite[]): void {
    const now = new Date();
    for (const write of writes) if (write.kind === 'image-updated') this.pushOrder.note(write.name, now);
  }

  /** Forgets a deleted repository's last push: pushed to again, it is new, not as old as the one deleted. */
  forget(name: string): void {
    this.pushOrder.note(name, undefined);
  }

  /** Reads ahead what the first page after a start needs (the repository list, the push order); not awaited. */
  warm(): void {
    void this.names
      .list()
      .then((all) => this.pushOrder.names(all))
      .catch(() => undefined);
  }

  /**
   * One page of the repositories `visible` allows (`undefined`: the caller reads them all), matching
   * `query` (a substring of the name). Only the page's repositories are read. Without a query, a
   * caller who reads everything costs a slice of the store's sorted list; otherwise each name is
   * matched in memory (the total counts them). By push time, the order is the one kept by
   * `pushOrder`.
   */
  async repositories(options: { visible: ((name: string) => boolean) | undefined; query?: string; sort: RepositorySort; page: number; perPage: number }): Promise<PageOf<RepositoryFigures>> {
    const query = options.query?.trim().toLowerCase() ?? '';
    const { visible } = options;
    const listed = await this.names.list();
    const all = options.sort.endsWith('pushed') ? await this.pushOrder.names(listed) : listed;
    const names = query === '' && !visible ? all : all.filter((name) => (query === '' || name.toLowerCase().includes(query)) && (!visible || visible(name)));
    // A reversed order is the same list read from its end (no copy).
    const page = options.sort.startsWith('-') ? paginateBackwards(names, options.page, options.perPage) : paginate(names, options.page, options.perPage);
    const items = (await Promise.all(page.items.map((name) => this.summary(name).catch(() => undefined)))).filter((item) => item !== undefined);
    return { ...page, items };
  }

  /** Sizes count every distinct manifest, config and layer the repository's index references. */
  async summary(name: string): Promise<RepositoryFigures> {
    return { name, ...(await this.table(name)).figures };
  }

  /** Writes the saved views still waiting (shutdown). */
  async close(): Promise<void> {
    await this.saved.flush();
  }

  /** The repository with one page of its tags (by default newest push first; `sort`), filtered by `query`. */
  async repository(name: string, options: { query?: string; sort?: TagSort; page: number; perPage: number }): Promise<RepositoryDetail> {
    const asked = { query: options.query?.trim().toLowerCase() ?? '', sort: options.sort ?? 'pushed', page: options.page, perPage: options.perPage };
    let table = await this.table(name);
    let tags = await table.page(asked);
    if (!tags) {
      // A saved chunk that cannot be read: the saved view is not used again, the view is computed.
      table = await this.table(name, { unsaved: true });
      tags = (await table.page(asked))!;
    }
    return {
      name,
      ...table.figures,
      untagged: table.untagged,
      manifestCount: table.manifestCount,
      attachedTags: table.attachedTags,
      tags,
      ...(table.pullTag !== undefined ? { pullTag: table.pullTag } : {}),
    };
  }

  /**
   * One manifest or index by tag or digest, with its config, layers and referrers: from the view
   * saved for the index version when the repository's table is one (its first page since the
   * start), else from the view computed from the index.
   */
  async image(name: string, reference: { tag: string } | { digest: string }): Promise<ImageDetail> {
    const saved = (await this.table(name)).image;
    if (saved) {
      try {
        return await this.savedImage(name, reference, saved);
      } catch (error) {
        if (!(error instanceof SavedViewUnreadable)) throw error;
        // Not used again: the view is computed (below) and saved again.
        await this.table(name, { unsaved: true });
      }
    }
    const index = await this.store.readIndex(name);
    const view = await this.view(name);
    const entry = 'tag' in reference ? index.manifests.findLast((candidate) => candidate.annotations?.[REF_NAME] === reference.tag) : await this.findByDigest(name, view, reference.digest);
    if (!entry) throw new RegistryError('MANIFEST_UNKNOWN', 'tag' in reference ? { tag: reference.tag } : { digest: reference.digest });
    const about = aboutInView(view, entry.digest);
    const inputs: ImageInputs = {
      entry,
      // The index read first (the tag's entry), as it names the digest.
      sameDigest: index.manifests.filter((candidate) => candidate.digest === entry.digest),
      facts: about.facts ?? (await this.shelf.one(name, entry)),
      childFacts: (child) => this.shelf.one(name, child),
      referrers: about.referrers,
      parents: about.parents,
      hasTag: (tag) => view.tags.has(tag),
    };
    return composeImage(name, 'tag' in reference, inputs, { manifest: (digest, describedAs) => this.manifest(name, digest, describedAs), config: (descriptor) => this.config(name, descriptor) });
  }

  /**
   * The image page from the saved view: only what the saved digest line holds (an entry of the
   * index, its facts and its children's); anything else (a child only an index lists, facts not
   * saved) is SavedViewUnreadable, and the view is computed. Media types are the saved entries'.
   */
  private async savedImage(name: string, reference: { tag: string } | { digest: string }, saved: SavedImageReads): Promise<ImageDetail> {
    const digest = 'tag' in reference ? await saved.tagDigest(reference.tag) : reference.digest;
    const about = digest === undefined ? null : await saved.about(digest);
    const entry = about && ('tag' in reference ? about.sameDigest.findLast((candidate) => candidate.annotations?.[REF_NAME] === reference.tag) : about.entry);
    if (!entry) {
      // A child only an index lists (read from storage, by the view), or buckets that disagree.
      if ((about && about.parents.length > 0) || ('tag' in reference && digest !== undefined)) throw new SavedViewUnreadable();
      throw new RegistryError('MANIFEST_UNKNOWN', 'tag' in reference ? { tag: reference.tag } : { digest: reference.digest });
    }
    if (!about.facts) throw new SavedViewUnreadable();
    // The media types the index gives: its last entry of each digest's (referrers are such entries).
    const types = new Map(about.referrers.map((referrer) => [referrer.entry.digest, referrer.entry.mediaType]));
    types.set(entry.digest, about.entry?.mediaType ?? entry.mediaType);
    const inputs: ImageInputs = {
      entry,
      sameDigest: about.sameDigest,
      facts: about.facts,
      childFacts: (child) => {
        const known = about.children.get(child.digest);
        if (known?.mediaType !== child.mediaType) throw new SavedViewUnreadable();
        return Promise.resolve(known);
      },
      referrers: about.referrers,
      parents: about.parents,
      hasTag: (tag) => about.cosignTags.includes(tag),
    };
    return composeImage(name, 'tag' in reference, inputs, {
      manifest: (manifest, describedAs) => this.manifest(name, manifest, describedAs, types.get(manifest) ?? describedAs),
      config: (descriptor) => this.config(name, descriptor),
    });
  }

  /**
   * The table of the repository's current index version: the one held for it, else (at its first
   * page since the start) the view saved for it, else the view computed and then saved. The
   * version is asked before the index is read, so a table is never older than the version it is
   * held for (a push in between makes the next page ask again).
   */
  private async table(name: string, options: { unsaved?: boolean } = {}): Promise<TagTable> {
    const version = await this.store.indexVersion(name).catch((error: unknown) => {
      this.shelf.forget(name);
      throw error;
    });
    const held = this.tables.get(name);
    if (held?.version === version && !options.unsaved) {
      const table = await held.table;
      // One computed in memory stands for its index object: the store may have dropped a change
      // that was not written (a failed journal append), which leaves the version as it was.
      if (!table.index || table.index === (await this.store.readIndex(name))) return table;
    }
    const table = (async () => {
      // Only a repository not shown since the start reads its record: after that, memory is ahead of it.
      const saved = held || options.unsaved ? undefined : await this.saved.read(name, version);
      if (saved) {
        this.pushOrder.note(name, saved.figures.lastPush);
        return saved;
      }
      const view = await this.view(name);
      this.saved.save(name, version, view);
      return tableOfView(view);
    })();
    const entry = { version, table, rows: 1 };
    this.tables.set(name, entry);
    void table.then(
      // Weighed again once its rows are known.
      (done) => this.tables.get(name) === entry && this.tables.set(name, { ...entry, rows: done.rows }),
      // A failed read is not kept: the next page tries again.
      () => this.tables.get(name) === entry && this.tables.delete(name),
    );
    return table;
  }

  /** The view of the repository's current index, computed once per index version. */
  private async view(name: string): Promise<RepositoryView> {
    // The facts record and the index are read side by side (after a restart, both are read whole).
    this.shelf.prefetch(name);
    const index = await this.store.readIndex(name).catch((error: unknown) => {
      this.shelf.forget(name);
      throw error;
    });
    let view = this.views.get(index);
    if (!view) {
      view = (async () => {
        const entries = entriesByDigest(index);
        const facts = await this.shelf.of(name, entries.values());
        const computed = viewOf(index, facts, entries);
        this.pushOrder.note(name, computed.figures.lastPush);
        this.shelf.compact(name, new Set(computed.entries.keys()));
        return computed;
      })();
      this.views.set(index, view);
      // A failed read is not kept: the next page tries again.
      view.catch(() => this.views.delete(index));
    }
    return view;
  }

  /** A manifest's facts, read from storage (the shelf asks only for what it does not hold). */
  private async readFacts(name: string, entry: Pick<Descriptor, 'digest' | 'mediaType' | 'size'>): Promise<EntryFacts | undefined> {
    const insight = await this.manifest(name, entry.digest, entry.mediaType);
    if (!insight) return undefined;
    const blobs = new Map<string, number>();
    await this.collectBlobs(name, entry, blobs, 0);
    blobs.delete(entry.digest);
    let platforms: Platform[] = [];
    let pulled: EntryFacts['pulled'];
    if (insight.kind === 'index') {
      platforms = insight.children.flatMap((child) => (child.platform && child.platform.os !== 'unknown' ? [child.platform] : []));
      const child = pulledPlatform(insight.children);
      if (child?.platform) {
        const childBlobs = new Map<string, number>();
        await this.collectBlobs(name, child, childBlobs, 1);
        let size = 0;
        for (const bytes of childBlobs.values()) size += bytes;
        pulled = { platform: child.platform, size };
      }
    } else if (insight.kind === 'image' && insight.config) {
      const config = await this.config(name, insight.config);
      if (config?.os && config.architecture) platforms = [{ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) }];
    }
    return {
      digest: entry.digest,
      mediaType: entry.mediaType,
      kind: insight.kind,
      size: insight.size,
      ...(insight.artifactType ? { artifactType: insight.artifactType } : {}),
      ...(insight.subject ? { subject: insight.subject } : {}),
      platforms,
      ...(pulled ? { pulled } : {}),
      children: insight.children.map((child) => child.digest),
      blobs: [...blobs],
    };
  }

  /**
   * A digest in the index, or the child of an index in it (zot does not always list children); a
   * child is then read from this repository's storage, so one it does not hold stays unknown.
   */
  private async findByDigest(name: string, view: RepositoryView, digest: string): Promise<Descriptor | undefined> {
    const direct = view.entries.get(digest);
    if (direct) return direct;
    for (const parent of view.parents.get(digest) ?? []) {
      const entry = view.entries.get(parent);
      if (!entry) continue;
      const child = (await this.manifest(name, entry.digest, entry.mediaType))?.children.find((candidate) => candidate.digest === digest);
      if (child) return { digest: child.digest, mediaType: child.mediaType, size: child.size };
    }
    return undefined;
  }

  /** Adds the sizes of a manifest and everything it references (children of an index too). */
  private async collectBlobs(name: string, entry: Pick<Descriptor, 'digest' | 'mediaType' | 'size'>, into: Map<string, number>, depth: number): Promise<void> {
    if (into.has(entry.digest) || depth > NESTING_LIMIT) return;
    const insight = await this.manifest(name, entry.digest, entry.mediaType);
    into.set(entry.digest, insight?.size ?? entry.size);
    if (!insight) return;
    if (insight.config) into.set(insight.config.digest, insight.config.size);
    for (const layer of insight.layers) into.set(layer.digest, layer.size);
    for (const child of insight.children) await this.collectBlobs(name, child, into, depth + 1);
  }

  /**
   * A manifest as `name` holds it, read as the media type of its index entry (validated at push);
   * a child that the index does not list is read as its parent's descriptor says.
   */
  private async manifest(name: string, digest: string, describedAs: string, indexType?: string): Promise<ManifestInsight | undefined> {
    // `indexType`: the saved view's entry's media type (the index not read).
    const mediaType = indexType ?? entriesByDigest(await this.store.readIndex(name)).get(digest)?.mediaType ?? describedAs;
    const parsed = parseDigest(digest);
    if (!parsed) return undefined;
    let bytes: Buffer;
    try {
      bytes = await this.catalog.readBytes(name, parsed);
    } catch (error) {
      // A manifest listed in index.json whose blob is gone: shown with what the index says.
      if (isErrorKey(error, 'MANIFEST_UNKNOWN')) return undefined;
      throw error;
    }
    let byType = this.insights.get(bytes);
    if (!byType) {
      byType = new Map();
      this.insights.set(bytes, byType);
    }
    let insight = byType.get(mediaType);
    if (insight === undefined) {
      insight = inspectManifest(bytes, mediaType) ?? null;
      byType.set(mediaType, insight);
    }
    return insight ?? undefined;
  }

  private async config(name: string, descriptor: BlobInsight): Promise<ConfigInsight | undefined> {
    const key = scopedKey(name, descriptor.digest);
    const cached = this.configs.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const parsed = parseDigest(descriptor.digest);
    if (!parsed) return undefined;
    const size = await this.store.statBlob(name, parsed);
    if (size === undefined) return undefined;
    const config = size <= MAX_CONFIG_BYTES ? inspectConfig(await this.store.readSmallBlob(name, parsed)) : undefined;
    this.configs.set(key, config ?? null);
    return config;
  }
}

const byDigest = new WeakMap<OciIndexFile, Map<string, Descriptor>>();

/** The index's entries by digest (the last entry of a digest wins), computed once per index version. */
function entriesByDigest(index: OciIndexFile): Map<string, Descriptor> {
  let entries = byDigest.get(index);
  if (!entries) {
    entries = new Map(index.manifests.map((entry) => [entry.digest, entry]));
    byDigest.set(index, entries);
  }
  return entries;
}
