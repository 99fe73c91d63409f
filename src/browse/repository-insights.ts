/**
 * Browsing the registry (the web UI and its API): repositories with tag counts, sizes and last
 * push, tags with kind, platforms and size, and one image in detail. Read from storage only:
 * index.json (cached by the store per version); manifest bytes from the registry's manifest
 * catalog, the one manifest cache (repository-scoped: `scopedKey`), each parsed once while the
 * catalog keeps its bytes; configs cached here under the same scoped key, for good
 * (content-addressed bytes never change). Per-repository totals are cached per index version.
 *
 * Callers filter by permission before asking: `repositories` takes a `visible` predicate and
 * computes details only for the page it returns, so a page never costs a walk over every image.
 */
import { RegistryError } from '../oci/errors.js';
import { parseDigest } from '../oci/digest.js';
import { PUSHED_AT, REF_NAME, type OciIndexFile, type Store } from '../storage/store.js';
import type { Descriptor } from '../oci/manifest.js';
import { Lru } from '../registry/lru.js';
import { scopedKey, type ManifestCatalog } from '../registry/manifest-catalog.js';
import { attachmentsOf, cosignTagSubject, type Attachment } from './attachments.js';
import { IndexFacts, pulledPlatform } from './index-facts.js';
import { countTags, newestPush, type RepositoryFigures } from './repository-figures.js';
import {
  inspectConfig,
  inspectManifest,
  layerHistory,
  type BlobInsight,
  type ChildInsight,
  type ConfigInsight,
  type HistoryInsight,
  type ManifestInsight,
  type ManifestKind,
  type Platform,
} from './manifest-insight.js';

export interface PageOf<T> {
  items: T[];
  /** Items across all pages. */
  total: number;
  /** 1-based. */
  page: number;
  perPage: number;
  pages: number;
}

export interface TagSummary {
  tag: string;
  digest: string;
  mediaType: string;
  kind: ManifestKind;
  artifactType?: string;
  platforms: Platform[];
  /** Every distinct manifest, config and layer: for an index, all platforms together. */
  size: number;
  /** An index's: what a pull on linux/amd64 fetches (or on its first platform without one), and that platform. */
  pulled?: PulledSize;
  pushed?: string;
  /** Signatures, SBOMs, attestations attached to it (presence, not verified). */
  attachments: Attachment[];
}

export interface PulledSize {
  platform: Platform;
  /** The platform's manifest, config and layers. */
  size: number;
}

export interface RepositoryDetail extends RepositoryFigures {
  /** Manifests no tag reaches that are no referrer either (untagged.ts): what moved or deleted tags left behind. */
  untagged: number;
  /** Entries in the index, tagged or not (0: nothing left to delete). */
  manifestCount: number;
  /** cosign's `sha256-<hex>.sig/.att/.sbom` tags, shown with the image they belong to instead of in the list. */
  attachedTags: number;
  tags: PageOf<TagSummary>;
  /** The tag the Pull panel offers: `latest` when the repository has it, else the newest pushed (whatever the page or filter). */
  pullTag?: string;
}

export interface ImageDetail {
  repository: string;
  digest: string;
  mediaType: string;
  kind: ManifestKind;
  /** The manifest's own bytes. */
  size: number;
  /** Manifest, config and layers (of every platform, for an index), each counted once. */
  totalSize: number;
  tags: string[];
  pushed?: string;
  artifactType?: string;
  subject?: string;
  annotations: Record<string, string>;
  /** An index's manifests, with the size of each platform's image. */
  children: Array<ChildInsight & { totalSize?: number }>;
  /** An index's size as pulled on linux/amd64 (else its first platform). */
  pulled?: PulledSize;
  config?: BlobInsight & { details?: ConfigInsight };
  layers: Array<BlobInsight & { history?: HistoryInsight }>;
  history: HistoryInsight[];
  referrers: Array<{ digest: string; mediaType: string; artifactType?: string; size: number; annotations: Record<string, string>; pushed?: string }>;
  /** Indexes in the repository that list this manifest. */
  parents: string[];
  /** Signatures, SBOMs, attestations attached to it (presence, not verified). */
  attachments: Attachment[];
}

/** `pushed`: newest push first; a leading `-` reverses the order (`-name`: Z to A, `-pushed`: oldest first). */
export type RepositorySort = 'name' | '-name' | 'pushed' | '-pushed';
export const REPOSITORY_SORTS = ['name', '-name', 'pushed', '-pushed'] as const satisfies readonly RepositorySort[];
/** The same four orders for a repository's tags (its page shows the newest push first). */
export type TagSort = RepositorySort;
export const TAG_SORTS = REPOSITORY_SORTS;

/** Configs above this are not parsed for display (a config is normally a few KiB). */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
const NESTING_LIMIT = 4;
/** How long the push order of all repositories is answered before a pass refreshes it. */
const PUSH_ORDER_TTL_MS = 5_000;

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
/** Tags as people read them: `v1.9` before `v1.10`. */
const tagCollator = new Intl.Collator('en', { numeric: true });
const newestFirst = (a?: string, b?: string) => compare(b ?? '', a ?? '');
/** Newest first, repositories never pushed to (as Berth records pushes) last. */
const newestDateFirst = (a?: Date, b?: Date) => (b?.getTime() ?? Number.NEGATIVE_INFINITY) - (a?.getTime() ?? Number.NEGATIVE_INFINITY) || 0;

export class RepositoryInsights {
  /**
   * A manifest as parsed for display, by the media type it was read as, for as long as the catalog
   * caches those bytes (the catalog's cache, keyed by repository and digest, decides what is read).
   */
  private readonly insights = new WeakMap<Buffer, Map<string, ManifestInsight | null>>();
  private readonly configs = new Lru<string, ConfigInsight | null>(20_000);
  private readonly summaries = new WeakMap<OciIndexFile, Omit<RepositoryFigures, 'name'>>();
  /** What each index version says beyond its entries: referrers by subject, untagged count, tags. */
  private readonly derived = new IndexFacts((name, digest, mediaType) => this.manifest(name, digest, mediaType));
  /** Repositories by push time, as of `at`, computed from the store's list `of` (`namesByPush`). */
  private pushOrder: { at: number; of: readonly string[]; names: readonly string[] } | undefined;
  private pushOrderPass: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly catalog: ManifestCatalog,
  ) {}

  /**
   * One page of the repositories `visible` allows (`undefined`: the caller reads them all), matching
   * `query` (a substring of the name). Only the page's repositories are read. Without a query, a
   * caller who reads everything costs a slice of the store's sorted list; otherwise each name is
   * matched in memory (the total counts them). By push time, the order is the one kept by
   * `namesByPush`.
   */
  async repositories(options: { visible: ((name: string) => boolean) | undefined; query?: string; sort: RepositorySort; page: number; perPage: number }): Promise<PageOf<RepositoryFigures>> {
    const query = options.query?.trim().toLowerCase() ?? '';
    const { visible } = options;
    const all = options.sort.endsWith('pushed') ? await this.namesByPush() : await this.store.listRepositories();
    const names = query === '' && !visible ? all : all.filter((name) => (query === '' || name.toLowerCase().includes(query)) && (!visible || visible(name)));
    const page = options.sort.startsWith('-') ? paginateBackwards(names, options.page, options.perPage) : paginate(names, options.page, options.perPage);
    const items = (await Promise.all(page.items.map((name) => this.summary(name).catch(() => undefined)))).filter((item) => item !== undefined);
    return { ...page, items };
  }

  /** Sizes count every distinct manifest, config and layer the repository's index references. */
  async summary(name: string): Promise<RepositoryFigures> {
    const index = await this.store.readIndex(name);
    let summary = this.summaries.get(index);
    if (!summary) {
      const blobs = new Map<string, number>();
      for (const entry of uniqueEntries(index)) await this.collectBlobs(name, entry, blobs, 0);
      const lastPush = newestPush(index.manifests);
      summary = { tagCount: countTags(index.manifests), size: sum(blobs), ...(lastPush ? { lastPush } : {}) };
      this.summaries.set(index, summary);
    }
    return { name, ...summary };
  }

  /** The repository with one page of its tags (by default newest push first), filtered by `query`. */
  async repository(name: string, options: { query?: string; sort?: TagSort; page: number; perPage: number }): Promise<RepositoryDetail> {
    const index = await this.store.readIndex(name);
    const summary = await this.summary(name);
    const query = options.query?.trim().toLowerCase() ?? '';
    const byPush = (a: Descriptor, b: Descriptor) => newestFirst(a.annotations?.[PUSHED_AT], b.annotations?.[PUSHED_AT]) || compare(a.annotations![REF_NAME]!, b.annotations![REF_NAME]!);
    const held = entriesByDigest(index);
    // cosign's tag-scheme tags go with the image they sign when the repository holds it.
    const attachedTag = (tag: string) => held.has(cosignTagSubject(tag) ?? '');
    const everyTagged = index.manifests.filter((entry) => entry.annotations?.[REF_NAME] !== undefined);
    const allTagged = everyTagged.filter((entry) => !attachedTag(entry.annotations![REF_NAME]!));
    const byName = (a: Descriptor, b: Descriptor) => tagCollator.compare(a.annotations![REF_NAME]!, b.annotations![REF_NAME]!) || compare(a.annotations![REF_NAME]!, b.annotations![REF_NAME]!);
    const sort = options.sort ?? 'pushed';
    const order = sort.endsWith('name') ? byName : byPush;
    const direction = sort.startsWith('-') ? -1 : 1;
    const tagged = allTagged.filter((entry) => query === '' || entry.annotations![REF_NAME]!.toLowerCase().includes(query)).sort((a, b) => direction * order(a, b));
    const pullTag = allTagged.some((entry) => entry.annotations![REF_NAME] === 'latest')
      ? 'latest'
      : allTagged.reduce<Descriptor | undefined>((best, entry) => (!best || byPush(entry, best) < 0 ? entry : best), undefined)?.annotations![REF_NAME];
    const page = paginate(tagged, options.page, options.perPage);
    const [referrers, tags] = [await this.derived.referrersBySubject(name, index), this.derived.tagSet(index)];
    const items = await Promise.all(
      page.items.map(async (entry) => ({ ...(await this.tagSummary(name, entry)), attachments: attachmentsOf(entry.digest, referrers.get(entry.digest) ?? [], (tag) => tags.has(tag)) })),
    );
    const untagged = await this.derived.untagged(name, index);
    return { ...summary, untagged, manifestCount: held.size, attachedTags: everyTagged.length - allTagged.length, tags: { ...page, items }, ...(pullTag !== undefined ? { pullTag } : {}) };
  }

  /** One manifest or index by tag or digest, with its config, layers and referrers. */
  async image(name: string, reference: { tag: string } | { digest: string }): Promise<ImageDetail> {
    const index = await this.store.readIndex(name);
    const entries = uniqueEntries(index);
    const entry = 'tag' in reference ? index.manifests.findLast((candidate) => candidate.annotations?.[REF_NAME] === reference.tag) : await this.findByDigest(name, entries, reference.digest);
    if (!entry) throw new RegistryError('MANIFEST_UNKNOWN', 'tag' in reference ? { tag: reference.tag } : { digest: reference.digest });
    const insight = await this.manifest(name, entry.digest, entry.mediaType);
    if (!insight) throw new RegistryError('MANIFEST_UNKNOWN', { digest: entry.digest });
    const blobs = new Map<string, number>();
    await this.collectBlobs(name, entry, blobs, 0);
    const children = await Promise.all(
      insight.children.map(async (child) => {
        const childBlobs = new Map<string, number>();
        await this.collectBlobs(name, child, childBlobs, 1);
        return { ...child, ...(childBlobs.size > 0 ? { totalSize: sum(childBlobs) } : {}) };
      }),
    );
    const pulledChild = pulledPlatform(children);
    const pulled = pulledChild?.platform && pulledChild.totalSize !== undefined ? { platform: pulledChild.platform, size: pulledChild.totalSize } : undefined;
    const details = insight.kind === 'image' && insight.config ? await this.config(name, insight.config) : undefined;
    const history = details?.history ?? [];
    const perLayer = layerHistory(insight.layers, history);
    const all = await Promise.all(entries.map(async (candidate) => ({ candidate, found: await this.manifest(name, candidate.digest, candidate.mediaType) })));
    const referrers = all
      .filter(({ found }) => found?.subject === entry.digest)
      .map(({ candidate, found }) => ({
        digest: candidate.digest,
        mediaType: found!.mediaType,
        ...(found!.artifactType ? { artifactType: found!.artifactType } : {}),
        size: found!.size,
        annotations: found!.annotations,
        ...(candidate.annotations?.[PUSHED_AT] ? { pushed: candidate.annotations[PUSHED_AT] } : {}),
      }));
    const tagSet = this.derived.tagSet(index);
    const attachments = attachmentsOf(entry.digest, referrers, (tag) => tagSet.has(tag));
    const parents = all.filter(({ found }) => found?.children.some((child) => child.digest === entry.digest)).map(({ candidate }) => candidate.digest);
    const tags = index.manifests.filter((candidate) => candidate.digest === entry.digest && candidate.annotations?.[REF_NAME] !== undefined).map((candidate) => candidate.annotations![REF_NAME]!);
    const pushed = newestPush(index.manifests.filter((candidate) => candidate.digest === entry.digest))?.toISOString();
    return {
      repository: name,
      digest: entry.digest,
      mediaType: insight.mediaType,
      kind: insight.kind,
      size: insight.size,
      totalSize: sum(blobs),
      tags: [...new Set(tags)].sort(compare),
      ...(pushed ? { pushed } : {}),
      ...(insight.artifactType ? { artifactType: insight.artifactType } : {}),
      ...(insight.subject ? { subject: insight.subject } : {}),
      annotations: insight.annotations,
      children,
      ...(pulled ? { pulled } : {}),
      ...(insight.config ? { config: { ...insight.config, ...(details ? { details } : {}) } } : {}),
      layers: insight.layers.map((layer, i) => ({ ...layer, ...(perLayer[i] ? { history: perLayer[i] } : {}) })),
      history,
      referrers,
      parents,
      attachments,
    };
  }

  /**
   * Every repository, newest push first. Ordering them reads every index, so it is done once, then
   * answered from memory while one pass refreshes it in the background when it is older than
   * PUSH_ORDER_TTL_MS or the store's list changed: a page waits for no pass but the very first.
   * Repositories the last pass did not see come first (new ones were just pushed to).
   */
  private async namesByPush(): Promise<readonly string[]> {
    const all = await this.store.listRepositories();
    if (!this.pushOrder) await this.orderByPush(all);
    else if (this.pushOrder.of !== all || Date.now() - this.pushOrder.at > PUSH_ORDER_TTL_MS) void this.orderByPush(all).catch(() => undefined);
    const { names, of } = this.pushOrder!;
    if (of === all) return names;
    const seen = new Set(of);
    return [...all.filter((name) => !seen.has(name)), ...names];
  }

  private orderByPush(all: readonly string[]): Promise<void> {
    this.pushOrderPass ??= (async () => {
      const at = Date.now();
      // Only the index is read for this (its entries carry the push time), not the manifests.
      const pushed = await Promise.all(all.map(async (name) => [name, await this.lastPush(name)] as const));
      const names = pushed.sort((a, b) => newestDateFirst(a[1], b[1]) || compare(a[0], b[0])).map(([name]) => name);
      this.pushOrder = { at, of: all, names };
    })().finally(() => (this.pushOrderPass = undefined));
    return this.pushOrderPass;
  }

  private async lastPush(name: string): Promise<Date | undefined> {
    try {
      return newestPush((await this.store.readIndex(name)).manifests);
    } catch {
      return undefined;
    }
  }

  private async tagSummary(name: string, entry: Descriptor): Promise<Omit<TagSummary, 'attachments'>> {
    const insight = await this.manifest(name, entry.digest, entry.mediaType);
    const blobs = new Map<string, number>();
    await this.collectBlobs(name, entry, blobs, 0);
    let platforms: Platform[] = [];
    let pulled: PulledSize | undefined;
    if (insight?.kind === 'index') {
      platforms = insight.children.flatMap((child) => (child.platform && child.platform.os !== 'unknown' ? [child.platform] : []));
      const child = pulledPlatform(insight.children);
      if (child?.platform) {
        const childBlobs = new Map<string, number>();
        await this.collectBlobs(name, child, childBlobs, 1);
        pulled = { platform: child.platform, size: sum(childBlobs) };
      }
    } else if (insight?.kind === 'image' && insight.config) {
      const config = await this.config(name, insight.config);
      if (config?.os && config.architecture) platforms = [{ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) }];
    }
    const pushed = entry.annotations?.[PUSHED_AT];
    return {
      tag: entry.annotations![REF_NAME]!,
      digest: entry.digest,
      mediaType: insight?.mediaType ?? entry.mediaType,
      kind: insight?.kind ?? 'image',
      ...(insight?.artifactType ? { artifactType: insight.artifactType } : {}),
      platforms,
      size: sum(blobs),
      ...(pulled ? { pulled } : {}),
      ...(pushed ? { pushed } : {}),
    };
  }

  /**
   * A digest in the index, or the child of an index in it (zot does not always list children); a
   * child is then read from this repository's storage, so one it does not hold stays unknown.
   */
  private async findByDigest(name: string, entries: Descriptor[], digest: string): Promise<Descriptor | undefined> {
    const direct = entries.find((entry) => entry.digest === digest);
    if (direct) return direct;
    for (const entry of entries) {
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
  private async manifest(name: string, digest: string, describedAs: string): Promise<ManifestInsight | undefined> {
    const mediaType = entriesByDigest(await this.store.readIndex(name)).get(digest)?.mediaType ?? describedAs;
    const parsed = parseDigest(digest);
    if (!parsed) return undefined;
    let bytes: Buffer;
    try {
      bytes = await this.catalog.readBytes(name, parsed);
    } catch (error) {
      // A manifest listed in index.json whose blob is gone: shown with what the index says.
      if (error instanceof RegistryError && error.key === 'MANIFEST_UNKNOWN') return undefined;
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

function uniqueEntries(index: OciIndexFile): Descriptor[] {
  return [...entriesByDigest(index).values()];
}

function sum(sizes: Map<string, number>): number {
  let total = 0;
  for (const size of sizes.values()) total += size;
  return total;
}

/** `paginate` over `items` read from the end, without copying the whole list (a reversed sort). */
export function paginateBackwards<T>(items: readonly T[], page: number, perPage: number): PageOf<T> {
  const forward = paginate(items, page, perPage);
  const end = items.length - (forward.page - 1) * perPage;
  return { ...forward, items: items.slice(Math.max(0, end - perPage), end).reverse() };
}

/** Page `page` (1-based, clamped to the last page) of `perPage` items. */
export function paginate<T>(items: readonly T[], page: number, perPage: number): PageOf<T> {
  const pages = Math.max(1, Math.ceil(items.length / perPage));
  const current = Math.min(Math.max(1, Math.floor(page)), pages);
  const start = (current - 1) * perPage;
  return { items: items.slice(start, start + perPage), total: items.length, page: current, perPage, pages };
}
