/**
 * What the registry knows about stored manifests, from a repository's index.json and the manifest
 * bytes. Manifests are content-addressed, so bytes and summaries are cached for good, but always
 * under the repository they were read from (`scopedKey`): a digest another repository holds is
 * unknown here, whatever the cache holds (CONVENTIONS habit 12). The index decides whether a
 * repository holds a manifest.
 */
import { isErrorKey, RegistryError } from '../oci/errors.js';
import { summarizeManifest, type Descriptor } from '../oci/manifest.js';
import { parseDigest, type Digest } from '../oci/digest.js';
import { REF_NAME, type OciIndexFile, type Store } from '../storage/store.js';
import { Lru } from './lru.js';

/** The facts about a manifest that listings need (referrers, blob references). */
export interface ManifestFacts {
  mediaType: string;
  size: number;
  blobs: string[];
  manifests: string[];
  subject?: string;
  artifactType?: string;
  annotations?: Record<string, string>;
}

const BYTES_CACHE = 64 * 1024 * 1024;
const FACTS_CACHE = 100_000;

/**
 * The key of whatever a cache learned by reading `digest` in `repository`: `<name>@<digest>` (`@`
 * cannot occur in a repository name). Every cache of content read on behalf of a request uses it.
 */
export function scopedKey(repository: string, digest: string): string {
  return `${repository}@${digest}`;
}

export class ManifestCatalog {
  private readonly bytes = new Lru<string, Buffer>(BYTES_CACHE, (value) => value.length);
  private readonly facts = new Lru<string, ManifestFacts>(FACTS_CACHE);
  private readonly tagLists = new WeakMap<OciIndexFile, string[]>();

  constructor(private readonly store: Store) {}

  /** The index entry a tag or digest resolves to, or MANIFEST_UNKNOWN. */
  async resolve(name: string, reference: string | Digest): Promise<Descriptor> {
    const index = await this.store.readIndex(name);
    const found = typeof reference === 'string' ? index.manifests.findLast((entry) => entry.annotations?.[REF_NAME] === reference) : index.manifests.find((entry) => entry.digest === reference.value);
    if (!found) {
      throw new RegistryError('MANIFEST_UNKNOWN', typeof reference === 'string' ? { tag: reference } : { digest: reference.value });
    }
    return found;
  }

  /** The bytes of a manifest the caller resolved in `name`'s index (`resolve`). */
  async readBytes(name: string, digest: Digest): Promise<Buffer> {
    const key = scopedKey(name, digest.value);
    const cached = this.bytes.get(key);
    if (cached) return cached;
    let bytes: Buffer;
    try {
      bytes = await this.store.readSmallBlob(name, digest);
    } catch (error) {
      if (isErrorKey(error, 'BLOB_UNKNOWN')) throw new RegistryError('MANIFEST_UNKNOWN', { digest: digest.value });
      throw error;
    }
    this.bytes.set(key, ownMemory(bytes));
    return bytes;
  }

  /** What a push into `name` just stored. */
  remember(name: string, digest: Digest, bytes: Buffer, facts: ManifestFacts): void {
    this.bytes.set(scopedKey(name, digest.value), ownMemory(bytes));
    this.facts.set(scopedKey(name, digest.value), facts);
  }

  /** Facts of every manifest in the repository's index (one read each the first time). */
  async allFacts(name: string): Promise<Array<{ entry: Descriptor; facts: ManifestFacts }>> {
    const index = await this.store.readIndex(name);
    const unique = new Map(index.manifests.map((entry) => [entry.digest, entry]));
    const out = await Promise.all(
      [...unique.values()].map(async (entry) => {
        const facts = await this.factsOf(name, entry).catch(() => undefined);
        return facts ? { entry, facts } : undefined;
      }),
    );
    return out.filter((item) => item !== undefined);
  }

  /** Facts of `entry`, an entry of `name`'s index; its media type is the one validated at push. */
  async factsOf(name: string, entry: Descriptor): Promise<ManifestFacts | undefined> {
    const key = scopedKey(name, entry.digest);
    const cached = this.facts.get(key);
    if (cached) return cached;
    const digest = parseDigest(entry.digest);
    if (!digest) return undefined;
    const bytes = await this.readBytes(name, digest);
    const facts = factsFrom(summarizeManifest(bytes, entry.mediaType), bytes.length);
    this.facts.set(key, facts);
    return facts;
  }

  /** Sorted, unique tags of the repository; computed once per version of its index. */
  async tags(name: string): Promise<string[]> {
    const index = await this.store.readIndex(name);
    let tags = this.tagLists.get(index);
    if (!tags) {
      const set = new Set<string>();
      for (const entry of index.manifests) {
        const tag = entry.annotations?.[REF_NAME];
        if (tag !== undefined) set.add(tag);
      }
      tags = [...set].sort(compareCodePoints);
      this.tagLists.set(index, tags);
    }
    return tags;
  }
}

/**
 * `bytes`, in an allocation of its own size. A small Buffer is usually a slice of Node's shared
 * pool slab (Buffer.concat of a request body; 8 KiB on Node 20, 64 KiB on Node 24): cached, it
 * would keep its slab alive while the cache counts only its length, up to a slab per cached
 * manifest (the catalog bench's 10,000 repositories grew Berth by about 100 MiB).
 */
function ownMemory(bytes: Buffer): Buffer {
  if (bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length) return bytes;
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}

export function factsFrom(summary: ReturnType<typeof summarizeManifest>, size: number): ManifestFacts {
  return {
    mediaType: summary.mediaType,
    size,
    blobs: summary.blobs.map((digest) => digest.value),
    manifests: summary.manifests.map((digest) => digest.value),
    ...(summary.subject ? { subject: summary.subject.digest } : {}),
    ...(summary.artifactType ? { artifactType: summary.artifactType } : {}),
    ...(summary.annotations ? { annotations: summary.annotations } : {}),
  };
}

/** Lexical order as the spec asks: by code point, not by locale. */
export function compareCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
