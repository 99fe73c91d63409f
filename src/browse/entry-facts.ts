/**
 * What the UI's lists need to know of one manifest, read once from its bytes (and its image
 * config's platform): kind, sizes, platforms, subject, children, and every blob it reaches. A
 * manifest is content-addressed, so these facts never change for a digest read as one media type:
 * they can be kept for good, on disk (facts-shelf.ts), and are right for any version of any index
 * that lists the digest. Whether a repository holds the digest is still its index's answer alone.
 *
 * On disk one JSON object per line, short keys (a repository of 8,000 tags reads ~2 MB at start).
 */
import type { ChildInsight, ManifestKind, Platform } from './manifest-insight.js';

export interface EntryFacts {
  digest: string;
  /** The media type the manifest was read as (its index entry's, validated at push). */
  mediaType: string;
  kind: ManifestKind;
  /** Bytes of the manifest itself. */
  size: number;
  artifactType?: string;
  /** The manifest this one refers to (signatures, SBOMs). */
  subject?: string;
  /** An image's (from its config), or the platforms an index lists (buildx's unknown/unknown attestations left out). */
  platforms: Platform[];
  /** An index's: what a pull on linux/amd64 fetches (else on its first real platform), and that platform. */
  pulled?: { platform: Platform; size: number };
  /** An index's manifests. */
  children: string[];
  /** Every other blob reached, each once with its size: config and layers, and an index's children with theirs. */
  blobs: Array<[string, number]>;
}

/** Manifest, config and layers (of every platform, for an index), each counted once. */
export function totalSize(facts: EntryFacts): number {
  let total = facts.size;
  for (const [digest, size] of facts.blobs) if (digest !== facts.digest) total += size;
  return total;
}

/**
 * The child of an index that a pull on linux/amd64 gets, else the first with a real platform
 * (buildx lists its attestations as platform unknown/unknown).
 */
export function pulledPlatform<C extends ChildInsight>(children: readonly C[]): C | undefined {
  const real = children.filter((child) => child.platform && child.platform.os !== 'unknown');
  return real.find((child) => child.platform!.os === 'linux' && child.platform!.architecture === 'amd64') ?? real[0];
}

interface Line {
  d: string;
  m: string;
  k: ManifestKind;
  s: number;
  a?: string;
  u?: string;
  p?: string[];
  c?: string[];
  b: Array<[string, number]>;
  l?: [string, number];
}

const platformText = (platform: Platform) => [platform.os, platform.architecture, ...(platform.variant ? [platform.variant] : [])].join('/');

function platformOf(text: string): Platform | undefined {
  const [os, architecture, variant] = text.split('/');
  if (!os || !architecture) return undefined;
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** One line of the shelf's record (with its newline). */
export function factsLine(facts: EntryFacts): string {
  const line: Line = {
    d: facts.digest,
    m: facts.mediaType,
    k: facts.kind,
    s: facts.size,
    ...(facts.artifactType ? { a: facts.artifactType } : {}),
    ...(facts.subject ? { u: facts.subject } : {}),
    ...(facts.platforms.length > 0 ? { p: facts.platforms.map(platformText) } : {}),
    ...(facts.children.length > 0 ? { c: facts.children } : {}),
    b: facts.blobs,
    ...(facts.pulled ? { l: [platformText(facts.pulled.platform), facts.pulled.size] as [string, number] } : {}),
  };
  return `${JSON.stringify(line)}\n`;
}

const isText = (value: unknown): value is string => typeof value === 'string';
const isSize = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const KINDS = new Set<unknown>(['image', 'index', 'artifact']);

/**
 * Facts from a parsed line; undefined for anything malformed (the record is a cache: skip it).
 * Written lean (no spreads, no array copies): it runs for every line of a record at a start.
 */
function fromLine(value: unknown): EntryFacts | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const line = value as Partial<Record<keyof Line, unknown>>;
  const { d, m, k, s, a, u, p, c, b, l } = line;
  if (!isText(d) || !isText(m) || !KINDS.has(k) || !isSize(s) || !Array.isArray(b)) return undefined;
  for (const pair of b as unknown[]) if (!Array.isArray(pair) || !isText(pair[0]) || !isSize(pair[1])) return undefined;
  const children = Array.isArray(c) ? (c as unknown[]) : [];
  for (const child of children) if (!isText(child)) return undefined;
  const platforms: Platform[] = [];
  if (Array.isArray(p)) {
    for (const text of p as unknown[]) {
      const platform = isText(text) ? platformOf(text) : undefined;
      if (platform) platforms.push(platform);
    }
  }
  const facts: EntryFacts = { digest: d, mediaType: m, kind: k as ManifestKind, size: s, platforms, children: children as string[], blobs: b as Array<[string, number]> };
  if (isText(a)) facts.artifactType = a;
  if (isText(u)) facts.subject = u;
  if (Array.isArray(l) && isText(l[0]) && isSize(l[1])) {
    const platform = platformOf(l[0]);
    if (platform) facts.pulled = { platform, size: l[1] };
  }
  return facts;
}

/** Every well-formed line of a record; a torn or foreign line is skipped. */
export function parseFactsRecord(text: string): EntryFacts[] {
  const lines = text.split('\n').filter((line) => line !== '');
  let values: unknown[];
  try {
    // One parse for the whole record (the usual case: every line whole).
    values = JSON.parse(`[${lines.join(',')}]`) as unknown[];
  } catch {
    values = lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as unknown];
      } catch {
        return [];
      }
    });
  }
  return values.map(fromLine).filter((facts) => facts !== undefined);
}
