/**
 * What the repository page and the repository list read of one version of a repository's index:
 * the figures, the counts, the Pull panel's tag, and the tag rows in both orders. Made from the
 * view computed in memory (repository-view.ts), or from the view saved for that version (the
 * repository's derived record `<name>#view`, saved-views.ts): after a restart, a page of an
 * 8,000-tag repository then reads that one record and parses its own rows, where computing the
 * view parses index.json (2 MB) and the facts record (2.7 MB) whole in a process whose code is not
 * compiled yet (0.2-0.5 s).
 *
 * Saved as records that each name the index version they were computed for (Store.indexVersion):
 * a header `{ v, c, s, l?, u, a, m, p?, r }` (figures, counts, rows), the rows (TagSummary, one a
 * line after a `{ v }` line) in chunks of CHUNK_ROWS, once in each order, so that a page reads one
 * or two chunks whatever the order, and the tags `{ v, t, n }` (newest push first, and the order
 * by tag), read only to filter; for the image page, digest and tag buckets (image-source.ts). A
 * view of at most CHUNK_ROWS rows is one record instead: header, tags and rows newest push first
 * (its image page is computed: small). A record of another version, torn (another number of rows) or
 * malformed is not used: the page is computed from the index.
 */
import { REF_NAME, type OciIndexFile } from '../storage/store.js';
import type { Descriptor } from '../oci/manifest.js';
import { paginate, paginateBackwards, type PageOf, type TagSort, type TagSummary } from './insight-types.js';
import type { RepositoryFigures } from './repository-figures.js';
import { tagSummaryOf, type RepositoryView } from './repository-view.js';
import { bucketCount, bucketOf, digestBuckets, digestFromBucket, tagBucketOf, tagFromBucket, type DigestAbout } from './image-source.js';

export interface TagTable {
  figures: Omit<RepositoryFigures, 'name'>;
  untagged: number;
  attachedTags: number;
  /** Entries in the index, tagged or not. */
  manifestCount: number;
  pullTag?: string;
  /** The index a table computed in memory was made from (a saved table has none). */
  index?: OciIndexFile;
  /** The image page's reads, for a big view saved with its digest buckets. */
  image?: SavedImageReads;
  /** Tag rows held (what the table weighs in memory). */
  readonly rows: number;
  /**
   * One page of the tags whose name holds `query` (lowercase; '' for all) in `sort`'s order;
   * undefined when a chunk of a saved table cannot be read (the caller then computes the view).
   */
  page(options: PageOptions): Promise<PageOf<TagSummary> | undefined>;
}

interface PageOptions {
  query: string;
  sort: TagSort;
  page: number;
  perPage: number;
}

/** Rows per saved chunk: a page of 50 reads one or two (about 75 KB each). */
export const CHUNK_ROWS = 256;

interface Header {
  /** The index version the record was computed for. */
  v: string;
  c: number;
  s: number;
  l?: string;
  u: number;
  a: number;
  m: number;
  p?: string;
  /** Tag rows. */
  r: number;
  /** Digest buckets (image-source.ts); 0 for a view saved as one record. */
  b: number;
}

interface Tags {
  v: string;
  /** Tags, newest push first (the rows' order). */
  t: string[];
  /** Row numbers in the order by tag. */
  n: number[];
}

/** A saved view's record could not be read (torn, of another version): the caller computes the view. */
export class SavedViewUnreadable extends Error {}

/** The image page's reads of a saved view (image-source.ts). */
export interface SavedImageReads {
  /** The digest a tag names; undefined when the version has no such tag. */
  tagDigest(tag: string): Promise<string | undefined>;
  /** What the version holds of `digest`; null when it holds nothing of it. */
  about(digest: string): Promise<DigestAbout | null>;
}

const tagOf = (entry: Descriptor) => entry.annotations![REF_NAME]!;

/** The page of `rows` (row numbers or entries) in `sort`'s order. */
function pick<T>(byPush: readonly T[], byName: () => readonly T[], tagOfRow: (row: T) => string, options: PageOptions): PageOf<T> {
  const ordered = options.sort.endsWith('name') ? byName() : byPush;
  const tagged = options.query === '' ? ordered : ordered.filter((row) => tagOfRow(row).toLowerCase().includes(options.query));
  return options.sort.startsWith('-') ? paginateBackwards(tagged, options.page, options.perPage) : paginate(tagged, options.page, options.perPage);
}

/** The table of a view computed in memory. */
export function tableOfView(view: RepositoryView): TagTable {
  return {
    index: view.index,
    figures: view.figures,
    untagged: view.untagged,
    attachedTags: view.attachedTags,
    manifestCount: view.entries.size,
    ...(view.pullTag !== undefined ? { pullTag: view.pullTag } : {}),
    rows: view.byPush.length,
    page(options) {
      const found = pick(view.byPush, () => view.byName(), tagOf, options);
      return Promise.resolve({ ...found, items: found.items.map((entry) => tagSummaryOf(view, entry)) });
    },
  };
}

/**
 * The saved records of `view`, computed for index version `version`, one at a time as [kind, text]
 * (a saver yields between them): `p0`, `n0`, ... (the chunks), `d0`, `g0`, ... (the buckets), `t`
 * (the tags), and '' (the header) last, to be written last.
 */
export function* savedViewRecords(version: string, view: RepositoryView): Generator<[string, string]> {
  const row = new Map(view.byPush.map((entry, i) => [entry, i]));
  const byName = view.byName();
  const { figures } = view;
  const header: Header = {
    v: version,
    c: figures.tagCount,
    s: figures.size,
    ...(figures.lastPush ? { l: figures.lastPush.toISOString() } : {}),
    u: view.untagged,
    a: view.attachedTags,
    m: view.entries.size,
    ...(view.pullTag !== undefined ? { p: view.pullTag } : {}),
    r: view.byPush.length,
    b: view.byPush.length <= CHUNK_ROWS ? 0 : bucketCount(view.entries.size + view.parents.size),
  };
  const tags: Tags = { v: version, t: view.byPush.map(tagOf), n: byName.map((entry) => row.get(entry)!) };
  if (header.b === 0) {
    // A small view is one record: the header, the tags, then the rows newest push first.
    let text = `${JSON.stringify(header)}\n${JSON.stringify(tags)}\n`;
    for (const entry of view.byPush) text += `${JSON.stringify(tagSummaryOf(view, entry))}\n`;
    yield ['', text];
    return;
  }
  const first = `${JSON.stringify({ v: version })}\n`;
  for (const [series, entries] of [
    ['p', view.byPush],
    ['n', byName],
  ] as const) {
    for (let i = 0; i * CHUNK_ROWS < entries.length; i++) {
      let text = first;
      for (const entry of entries.slice(i * CHUNK_ROWS, (i + 1) * CHUNK_ROWS)) text += `${JSON.stringify(tagSummaryOf(view, entry))}\n`;
      yield [`${series}${i}`, text];
    }
  }
  yield* digestBuckets(view, version, header.b);
  yield ['t', `${JSON.stringify(tags)}\n`];
  yield ['', `${JSON.stringify(header)}\n`];
}

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const KINDS = new Set<unknown>(['image', 'index', 'artifact']);

function parsed(line: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(line) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function headerOf(text: string, version: string): Header | undefined {
  const header = parsed(text) as Partial<Record<keyof Header, unknown>> | undefined;
  if (!header || header.v !== version || !isCount(header.c) || !isCount(header.s) || !isCount(header.u) || !isCount(header.a) || !isCount(header.m) || !isCount(header.r)) return undefined;
  // A bucket count is a power of two up to 256 (or 0).
  if (!isCount(header.b) || header.b > 256 || (header.b & (header.b - 1)) !== 0) return undefined;
  if ((header.l !== undefined && (typeof header.l !== 'string' || Number.isNaN(Date.parse(header.l)))) || (header.p !== undefined && typeof header.p !== 'string')) return undefined;
  return header as Header;
}

function tagsOf(text: string, version: string, rows: number): Tags | undefined {
  const tags = parsed(text) as Partial<Record<keyof Tags, unknown>> | undefined;
  const { t, n } = tags ?? {};
  if (tags?.v !== version || !Array.isArray(t) || !Array.isArray(n) || t.length !== rows || n.length !== rows || !t.every((tag) => typeof tag === 'string')) return undefined;
  // The order by tag must name each row once.
  const seen = new Uint8Array(rows);
  for (const row of n as unknown[]) {
    if (!isCount(row) || row >= rows || seen[row] === 1) return undefined;
    seen[row] = 1;
  }
  return tags as Tags;
}

/** A chunk's rows (lines, not parsed yet), when it is of `version` and holds `rows` of them. */
function chunkLines(text: string, version: string, rows: number): string[] | undefined {
  const lines = text.split('\n');
  // A whole chunk ends with a newline: the last piece is empty.
  if (lines.length !== rows + 2 || lines.pop() !== '' || parsed(lines[0]!)?.v !== version) return undefined;
  return lines.slice(1);
}

/** A row as saved, when it is one. */
function rowOf(line: string): TagSummary | undefined {
  const row = parsed(line) as Partial<Record<keyof TagSummary, unknown>> | undefined;
  if (!row || typeof row.tag !== 'string' || typeof row.digest !== 'string' || typeof row.mediaType !== 'string' || !KINDS.has(row.kind) || !isCount(row.size)) return undefined;
  if (!Array.isArray(row.platforms) || !Array.isArray(row.attachments)) return undefined;
  return row as unknown as TagSummary;
}

/**
 * The table of a saved header, when it was computed for `version`. A page of a big view reads with
 * `read` (by kind, each once) the chunks it shows, and the tags only to filter; a small view is its
 * header's record whole. Either way a page parses its own rows only.
 */
export function savedTable(record: string, version: string, read: (kind: string) => Promise<string>): TagTable | undefined {
  const end = record.indexOf('\n');
  const header = headerOf(end < 0 ? record : record.slice(0, end), version);
  if (!header) return undefined;
  const rows = header.r;
  const records = new Map<string, Promise<unknown>>();
  const once = <T>(kind: string, parse: (text: string) => T) => {
    let held = records.get(kind) as Promise<T> | undefined;
    if (!held) {
      held = read(kind).then(parse);
      records.set(kind, held);
    }
    return held;
  };
  /** The line of the row at `at` in the series' order, when its record is whole and of `version`. */
  let lineAt: (series: 'p' | 'n', at: number) => Promise<string | undefined>;
  let tagsRecord: () => Promise<Tags | undefined>;
  if (end >= 0 && end < record.length - 1) {
    // A small view: the tags on the second line, the rows (newest push first) after it.
    const lines = record.split('\n');
    const whole = lines.length === rows + 3 && lines[lines.length - 1] === '';
    const tags = tagsOf(lines[1]!, version, rows);
    tagsRecord = () => Promise.resolve(tags);
    lineAt = (series, at) => Promise.resolve(!whole || !tags ? undefined : lines[2 + (series === 'p' ? at : tags.n[at]!)]);
  } else {
    tagsRecord = () => once('t', (text) => tagsOf(text, version, rows));
    lineAt = async (series, at) => {
      const i = Math.floor(at / CHUNK_ROWS);
      return (await once(`${series}${i}`, (text) => chunkLines(text, version, Math.min(CHUNK_ROWS, rows - i * CHUNK_ROWS))))?.[at % CHUNK_ROWS];
    };
  }
  const positions = Array.from({ length: rows }, (_, i) => i);
  const lastPush = header.l === undefined ? undefined : new Date(header.l);
  const readable = async <T>(value: Promise<T | undefined>): Promise<T> => {
    const known = await value;
    if (known === undefined) throw new SavedViewUnreadable();
    return known;
  };
  const image: SavedImageReads = {
    async tagDigest(tag) {
      const text = await once(`g${tagBucketOf(tag, header.b)}`, (bucket) => bucket);
      return (await readable(Promise.resolve(tagFromBucket(text, version, tag)))) ?? undefined;
    },
    async about(digest) {
      const text = await once(`d${bucketOf(digest, header.b)}`, (bucket) => bucket);
      return readable(Promise.resolve(digestFromBucket(text, version, digest)));
    },
  };
  return {
    ...(header.b > 0 ? { image } : {}),
    figures: { tagCount: header.c, size: header.s, ...(lastPush ? { lastPush } : {}) },
    untagged: header.u,
    attachedTags: header.a,
    manifestCount: header.m,
    ...(header.p !== undefined ? { pullTag: header.p } : {}),
    rows,
    async page(options) {
      // Positions in the series of the order asked (row numbers in its own chunks).
      const series = options.sort.endsWith('name') ? 'n' : 'p';
      let tagged = positions;
      if (options.query !== '') {
        const tags = await tagsRecord();
        if (!tags) return undefined;
        const tagAt = series === 'p' ? (at: number) => tags.t[at]! : (at: number) => tags.t[tags.n[at]!]!;
        tagged = positions.filter((at) => tagAt(at).toLowerCase().includes(options.query));
      }
      const found = options.sort.startsWith('-') ? paginateBackwards(tagged, options.page, options.perPage) : paginate(tagged, options.page, options.perPage);
      const lines = await Promise.all(found.items.map((at) => lineAt(series, at)));
      const items: TagSummary[] = [];
      for (const line of lines) {
        const item = line === undefined ? undefined : rowOf(line);
        if (!item) return undefined;
        items.push(item);
      }
      return { ...found, items };
    },
  };
}
