/**
 * What the UI's read models answer (repository-insights.ts computes it): one page of items, a
 * repository's figures and tag rows, one image in detail, the sort orders, and paging. Kept apart
 * so the pages, the routes and the read models share the shapes without the model's code.
 */
import type { Descriptor } from '../oci/manifest.js';
import { PUSHED_BY, PUSHED_VIA } from '../storage/store.js';
import type { Attachment } from './attachments.js';
import type { ChildInsight, BlobInsight, ConfigInsight, HistoryInsight, ManifestKind, Platform } from './manifest-insight.js';
import type { RepositoryFigures } from './repository-figures.js';

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
  pushedBy?: PushedBy;
  /** Signatures, SBOMs, attestations attached to it (presence, not verified). */
  attachments: Attachment[];
}

export interface PulledSize {
  platform: Platform;
  /** The platform's manifest, config and layers. */
  size: number;
}

/** Who pushed a tag, as recorded at the push (PUSHED_BY); absent for anonymous pushes and older entries. */
export interface PushedBy {
  user: string;
  /** How they proved it: htpasswd, session (single sign-on), apikey, workload. */
  via?: string;
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
  pushedBy?: PushedBy;
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

/** The recorded pusher of an index entry. */
export function pushedByOf(entry: Descriptor | undefined): PushedBy | undefined {
  const user = entry?.annotations?.[PUSHED_BY];
  if (user === undefined || user === '') return undefined;
  const via = entry!.annotations![PUSHED_VIA];
  return { user, ...(via ? { via } : {}) };
}

/** Page `page` (1-based, clamped to the last page) of `perPage` items. */
export function paginate<T>(items: readonly T[], page: number, perPage: number): PageOf<T> {
  const pages = Math.max(1, Math.ceil(items.length / perPage));
  const current = Math.min(Math.max(1, Math.floor(page)), pages);
  const start = (current - 1) * perPage;
  return { items: items.slice(start, start + perPage), total: items.length, page: current, perPage, pages };
}

/** `paginate` over `items` read from the end: page 1 holds the last items, last first. */
export function paginateBackwards<T>(items: readonly T[], page: number, perPage: number): PageOf<T> {
  const forward = paginate(items, page, perPage);
  const end = items.length - (forward.page - 1) * perPage;
  return { ...forward, items: items.slice(Math.max(0, end - perPage), end).reverse() };
}
