/**
 * What the pages need of one version of a repository's index, computed once per version (the
 * store hands out one frozen index object per version) from the index and its manifests' facts:
 * the figures (tags, size, last push), the tags in both orders, the Pull panel's tag, the untagged
 * count (registry/untagged.ts, from the facts' children and subjects), referrers by subject, the
 * indexes listing each manifest and the tag set (cosign's tag-scheme signatures). All in memory: a
 * page then costs its own rows, whatever the number of tags.
 */
import type { Descriptor } from '../oci/manifest.js';
import { findUntagged } from '../registry/untagged.js';
import { PUSHED_AT, REF_NAME, type OciIndexFile } from '../storage/store.js';
import { attachmentsOf, cosignTagSubject } from './attachments.js';
import { totalSize, type EntryFacts } from './entry-facts.js';
import { pushedByOf, type TagSummary } from './insight-types.js';
import { newestPush, type RepositoryFigures } from './repository-figures.js';

export interface RepositoryView {
  /** The index it was computed from (the store's frozen object of that version). */
  index: OciIndexFile;
  figures: Omit<RepositoryFigures, 'name'>;
  /** Tagged entries, newest push first (ties by tag); cosign's tags of an image held here left out. */
  byPush: readonly Descriptor[];
  /** The same by tag, numbers compared as numbers (v1.9 before v1.10); sorted at the first page that asks. */
  byName(): readonly Descriptor[];
  pullTag?: string;
  /** Manifests no tag reaches that are no referrer either (untagged.ts): what moved or deleted tags left behind. */
  untagged: number;
  /** cosign's `sha256-<hex>.sig/.att/.sbom` tags of an image held here (listed with that image, not in `byPush`). */
  attachedTags: number;
  /** Every tag of the index. */
  tags: ReadonlySet<string>;
  /** The index's entries by digest (the last entry of a digest wins). */
  entries: ReadonlyMap<string, Descriptor>;
  facts: ReadonlyMap<string, EntryFacts>;
  /** Entries whose manifest names each digest as its subject. */
  referrers: ReadonlyMap<string, readonly Descriptor[]>;
  /** Indexes (digests) listing each manifest. */
  parents: ReadonlyMap<string, readonly string[]>;
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
/** Tags as people read them: `v1.9` before `v1.10` (code points break ties). */
const tagCollator = new Intl.Collator('en', { numeric: true });
const tagOf = (entry: Descriptor) => entry.annotations![REF_NAME]!;

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/**
 * The view of `index` given the facts of its entries (`facts` may lack an entry whose manifest is
 * gone) and its entries by digest (the last entry of a digest wins; the caller's map is kept).
 */
export function viewOf(index: OciIndexFile, facts: ReadonlyMap<string, EntryFacts>, entries: ReadonlyMap<string, Descriptor>): RepositoryView {
  // Tagged entries with their sort keys read once (a sort compares each entry many times).
  const tagged: Array<{ pushed: string; tag: string; entry: Descriptor }> = [];
  const tags = new Set<string>();
  let newest = '';
  let isoTimes = true;
  let attachedTags = 0;
  for (const entry of index.manifests) {
    const pushed = entry.annotations?.[PUSHED_AT] ?? '';
    if (pushed > newest) newest = pushed;
    // Berth writes toISOString(): then the newest as text is the newest in time.
    if (pushed !== '' && (pushed.length !== 24 || pushed[23] !== 'Z')) isoTimes = false;
    const tag = entry.annotations?.[REF_NAME];
    if (tag === undefined) continue;
    tags.add(tag);
    // cosign's tag-scheme tags go with the image they sign when the repository holds it.
    const signs = cosignTagSubject(tag);
    if (signs !== undefined && entries.has(signs)) attachedTags++;
    else tagged.push({ pushed, tag, entry });
  }
  // Every blob reached from the index, each once: the repository's size.
  const sizes = new Map<string, number>();
  const referrers = new Map<string, Descriptor[]>();
  const parents = new Map<string, string[]>();
  for (const [digest, entry] of entries) {
    const known = facts.get(digest);
    if (!known) {
      sizes.set(digest, entry.size);
      continue;
    }
    sizes.set(digest, known.size);
    for (const [blob, size] of known.blobs) sizes.set(blob, size);
    if (known.subject !== undefined) push(referrers, known.subject, entry);
    for (const child of known.children) push(parents, child, digest);
  }
  let size = 0;
  for (const bytes of sizes.values()) size += bytes;
  const untagged = findUntagged(index.manifests, (digest) => {
    const known = facts.get(digest);
    return known && { manifests: known.children, subject: known.subject };
  }).roots.length;
  const byPush = tagged.sort((a, b) => compare(b.pushed, a.pushed) || compare(a.tag, b.tag)).map((item) => item.entry);
  let byName: Descriptor[] | undefined;
  const lastPush = isoTimes ? (newest === '' ? undefined : new Date(newest)) : newestPush(index.manifests);
  const pullTag = tags.has('latest') ? 'latest' : byPush[0] && tagOf(byPush[0]);
  const byTag = (a: Descriptor, b: Descriptor) => tagCollator.compare(tagOf(a), tagOf(b)) || compare(tagOf(a), tagOf(b));
  return {
    index,
    figures: { tagCount: tags.size, size, ...(lastPush ? { lastPush } : {}) },
    byPush,
    byName: () => (byName ??= [...byPush].sort(byTag)),
    ...(pullTag !== undefined ? { pullTag } : {}),
    untagged,
    attachedTags,
    tags,
    entries,
    facts,
    referrers,
    parents,
  };
}

/** One row of the repository page: a tagged entry of the view, with its facts and attachments. */
export function tagSummaryOf(view: RepositoryView, entry: Descriptor): TagSummary {
  const facts = view.facts.get(entry.digest);
  // Referrers of one manifest are few: their artifact types come from the facts already held.
  const referrers = (view.referrers.get(entry.digest) ?? []).map((referrer) => {
    const artifactType = view.facts.get(referrer.digest)?.artifactType;
    return { digest: referrer.digest, ...(artifactType ? { artifactType } : {}) };
  });
  const pushed = entry.annotations?.[PUSHED_AT];
  const pushedBy = pushedByOf(entry);
  return {
    tag: tagOf(entry),
    digest: entry.digest,
    mediaType: facts?.mediaType ?? entry.mediaType,
    kind: facts?.kind ?? 'image',
    ...(facts?.artifactType ? { artifactType: facts.artifactType } : {}),
    platforms: facts?.platforms ?? [],
    size: facts ? totalSize(facts) : entry.size,
    ...(facts?.pulled ? { pulled: facts.pulled } : {}),
    ...(pushed ? { pushed } : {}),
    ...(pushedBy ? { pushedBy } : {}),
    attachments: attachmentsOf(entry.digest, referrers, (tag) => view.tags.has(tag)),
  };
}
