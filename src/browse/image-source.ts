/**
 * What the image page reads of one version of a repository's index about one digest besides its
 * manifest: the entries naming it, its facts and its children's, its referrers, the indexes listing
 * it. From the view computed in memory, or from the view saved for that version (tag-table.ts):
 * there one line per digest in one of the view's digest buckets (`#viewd0`, ...; digests spread by
 * their first byte) and the digest of each tag in a tag bucket (`#viewg0`, ...; by a hash of the
 * tag), so that after a restart the image page of an 8,000-tag repository reads two buckets (about
 * 100 digests, 125 tags) instead of index.json and the facts record whole. Each bucket names its
 * version; one of another version, torn or malformed is not used (the view is computed).
 */
import type { Descriptor } from '../oci/manifest.js';
import { REF_NAME } from '../storage/store.js';
import { factsLine, parseFactsRecord, type EntryFacts } from './entry-facts.js';
import type { RepositoryView } from './repository-view.js';

export interface DigestAbout {
  /** The index's entry of the digest (its last), when the index lists it. */
  entry?: Descriptor;
  /** Every entry of the index naming the digest. */
  sameDigest: Descriptor[];
  facts?: EntryFacts;
  /** An index's children's facts, by digest. */
  children: ReadonlyMap<string, EntryFacts>;
  /** Entries whose manifest names the digest as its subject, with the artifact type their facts hold. */
  referrers: Array<{ entry: Descriptor; artifactType?: string }>;
  /** Indexes of the index listing the digest. */
  parents: string[];
  /** cosign's tag-scheme tags naming it (`sha256-<hex>.sig`, ...). */
  cosignTags: string[];
}

/** Buckets for `digests` digests: at most 128 digests each (about 100 KB) up to 256 buckets, a power of two. */
export function bucketCount(digests: number): number {
  let buckets = 1;
  while (buckets < 256 && buckets * 128 < digests) buckets *= 2;
  return buckets;
}

/** The bucket of a digest: its first byte, modulo the bucket count. */
export function bucketOf(digest: string, buckets: number): number {
  const byte = Number.parseInt(digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 3), 16);
  return Number.isNaN(byte) ? 0 : byte % buckets;
}

interface Line {
  d: string;
  /** Every entry naming the digest, in index order: the last is the digest's entry. */
  s: Descriptor[];
  f?: string;
  k: string[];
  r: Array<[Descriptor, string | null]>;
  p: string[];
  g: string[];
}

/** What the view holds of `digest` (children: those whose facts it holds). */
export function aboutInView(view: RepositoryView, digest: string): DigestAbout {
  const facts = view.facts.get(digest);
  const children = new Map<string, EntryFacts>();
  for (const child of facts?.children ?? []) {
    const known = view.facts.get(child);
    if (known) children.set(child, known);
  }
  const entry = view.entries.get(digest);
  return {
    ...(entry ? { entry } : {}),
    sameDigest: view.index.manifests.filter((candidate) => candidate.digest === digest),
    ...(facts ? { facts } : {}),
    children,
    referrers: (view.referrers.get(digest) ?? []).map((referrer) => {
      const artifactType = view.facts.get(referrer.digest)?.artifactType;
      return { entry: referrer, ...(artifactType ? { artifactType } : {}) };
    }),
    parents: [...(view.parents.get(digest) ?? [])],
    cosignTags: cosignTagsOf(digest).filter((tag) => view.tags.has(tag)),
  };
}

/** cosign's tag-scheme tags a digest would have. */
function cosignTagsOf(digest: string): string[] {
  return digest.startsWith('sha256:') ? COSIGN_SUFFIXES.map((suffix) => `sha256-${digest.slice('sha256:'.length)}.${suffix}`) : [];
}
const COSIGN_SUFFIXES = ['sig', 'att', 'sbom'];

/** The tag bucket of a tag (FNV-1a of its UTF-16 code units, modulo the bucket count). */
export function tagBucketOf(tag: string, buckets: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < tag.length; i++) hash = Math.imul(hash ^ tag.charCodeAt(i), 0x01000193) >>> 0;
  return hash % buckets;
}

/**
 * The buckets of `view` for `version` (`buckets` of each), one text at a time (a saver yields
 * between them: all of an 8,000-tag view's at once would hold the event loop for 0.1 s): digests
 * (every entry's, and every child an index lists) with what the image page reads of them, as
 * `d<i>`, and tags with the digest each names, as `g<i>`.
 */
export function* digestBuckets(view: RepositoryView, version: string, buckets: number): Generator<[string, string]> {
  const first = `${JSON.stringify({ v: version })}\n`;
  // The last entry of a tag is the one it names; every entry of a digest, in index order.
  const tagged = new Map<string, string>();
  const sameDigest = new Map<string, Descriptor[]>();
  for (const entry of view.index.manifests) {
    const tag = entry.annotations?.[REF_NAME];
    if (tag !== undefined) tagged.set(tag, entry.digest);
    const list = sameDigest.get(entry.digest);
    if (list) list.push(entry);
    else sameDigest.set(entry.digest, [entry]);
  }
  const digests = Array.from({ length: buckets }, (): string[] => []);
  for (const digest of new Set([...view.entries.keys(), ...view.parents.keys()])) digests[bucketOf(digest, buckets)]!.push(digest);
  for (const [i, held] of digests.entries()) {
    let text = first;
    for (const digest of held) {
      const facts = view.facts.get(digest);
      const line: Line = {
        d: digest,
        s: sameDigest.get(digest) ?? [],
        ...(facts ? { f: factsLine(facts) } : {}),
        k: (facts?.children ?? []).flatMap((child) => {
          const known = view.facts.get(child);
          return known ? [factsLine(known)] : [];
        }),
        r: (view.referrers.get(digest) ?? []).map((referrer) => [referrer, view.facts.get(referrer.digest)?.artifactType ?? null]),
        p: [...(view.parents.get(digest) ?? [])],
        g: cosignTagsOf(digest).filter((tag) => view.tags.has(tag)),
      };
      text += `${JSON.stringify(line)}\n`;
    }
    yield [`d${i}`, text];
  }
  const tags = Array.from({ length: buckets }, () => first);
  for (const [tag, digest] of tagged) tags[tagBucketOf(tag, buckets)] += `${JSON.stringify([tag, digest])}\n`;
  for (const [i, text] of tags.entries()) yield [`g${i}`, text];
}

/** The digest a tag names, from its bucket's text; undefined when the bucket is not of `version` or not whole (null: no such tag). */
export function tagFromBucket(text: string, version: string, tag: string): string | null | undefined {
  const lines = text.split('\n');
  if (lines.length < 2 || lines.pop() !== '') return undefined;
  try {
    if ((JSON.parse(lines[0]!) as { v?: unknown }).v !== version) return undefined;
    const found = lines.slice(1).find((line) => line.startsWith(`[${JSON.stringify(tag)},`));
    if (found === undefined) return null;
    const [named, digest] = JSON.parse(found) as unknown[];
    return named === tag && typeof digest === 'string' ? digest : undefined;
  } catch {
    return undefined;
  }
}

const isDescriptor = (value: unknown): value is Descriptor =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Descriptor).digest === 'string' &&
  typeof (value as Descriptor).mediaType === 'string' &&
  typeof (value as Descriptor).size === 'number';

/** A digest's line from a bucket's text, when the bucket is of `version` and whole; undefined when it is not (null: not held). */
export function digestFromBucket(text: string, version: string, digest: string): DigestAbout | null | undefined {
  const lines = text.split('\n');
  if (lines.length < 2 || lines.pop() !== '') return undefined;
  try {
    if ((JSON.parse(lines[0]!) as { v?: unknown }).v !== version) return undefined;
    // Only the digest's own line is parsed.
    const found = lines.slice(1).find((line) => line.startsWith(`{"d":${JSON.stringify(digest)},`));
    if (found === undefined) return null;
    const line = JSON.parse(found) as Partial<Line>;
    if (line.d !== digest || !Array.isArray(line.s) || !Array.isArray(line.k) || !Array.isArray(line.r) || !Array.isArray(line.p) || !Array.isArray(line.g)) return undefined;
    if (!line.s.every(isDescriptor) || !line.r.every((pair) => Array.isArray(pair) && isDescriptor(pair[0]))) return undefined;
    const facts = line.f === undefined ? undefined : parseFactsRecord(line.f)[0];
    const children = new Map(parseFactsRecord(line.k.join('')).map((child) => [child.digest, child]));
    const entry = line.s.at(-1);
    return {
      ...(entry ? { entry } : {}),
      sameDigest: line.s,
      ...(facts ? { facts } : {}),
      children,
      referrers: line.r.map(([entry, artifactType]) => ({ entry, ...(typeof artifactType === 'string' ? { artifactType } : {}) })),
      parents: line.p.filter((parent) => typeof parent === 'string'),
      cosignTags: line.g.filter((tag) => typeof tag === 'string'),
    };
  } catch {
    return undefined;
  }
}
