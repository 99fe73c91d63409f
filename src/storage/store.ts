/**
 * What the registry needs from storage, in domain terms. Failures are RegistryErrors from the one
 * error table (BLOB_UNKNOWN, BLOB_UPLOAD_UNKNOWN, ...); nothing here knows about HTTP.
 */
import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';

export const REF_NAME = 'org.opencontainers.image.ref.name';
/**
 * When an index entry was pushed (ISO 8601): retention's pushedWithin and mostRecentlyPushedCount,
 * and the age garbage collection checks. zot keeps this in its metaDB; an annotation keeps the
 * tree self-describing, and zot ignores annotations it does not know.
 */
export const PUSHED_AT = 'dev.berth.pushed';

/** A repository's index.json. Treat as immutable: `updateIndex` hands out a copy to change. */
export interface OciIndexFile {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface BlobFile {
  digest: Digest;
  size: number;
  modifiedMs: number;
  /** Hard links to the same bytes (dedupe): removing one frees space only when this is 1. */
  links: number;
}

export interface UploadFile {
  id: string;
  size: number;
  modifiedMs: number;
}

/** What may be done to one repository while holding its lock (garbage collection, pushes). */
export interface RepositoryTransaction {
  readIndex(): Promise<OciIndexFile>;
  writeIndex(index: OciIndexFile): Promise<void>;
  statBlob(digest: Digest): Promise<number | undefined>;
  /** Stores bytes already hashed by the caller (a manifest), atomically. */
  writeSmallBlob(digest: Digest, bytes: Uint8Array): Promise<void>;
  listBlobs(): Promise<BlobFile[]>;
  deleteBlob(digest: Digest): Promise<void>;
  listUploads(): Promise<UploadFile[]>;
  deleteUpload(id: string): Promise<void>;
}

/**
 * An open blob, read piece by piece into buffers the caller owns and reuses: a fresh buffer per
 * read (what a file stream does) costs a full garbage collection every few dozen MiB served.
 */
export interface BlobReader {
  readonly size: number;
  /** Fills `buffer` from `position`; returns the bytes read (0 only past the end). */
  read(buffer: Buffer, position: number): Promise<number>;
  close(): Promise<void>;
}

export interface Store {
  /** Every repository, sorted: one shared, frozen array (cached; never copy or sort it per request). */
  listRepositories(): Promise<readonly string[]>;
  /** Throws unless a file can be written, synced and removed under the storage root (readiness). */
  checkWritable(): Promise<void>;
  repositoryExists(name: string): Promise<boolean>;
  /** Creates the repository's OCI layout if it is not there yet. */
  ensureRepository(name: string): Promise<void>;

  /** Size of the blob, or undefined when the repository does not hold it. */
  statBlob(name: string, digest: Digest): Promise<number | undefined>;
  /** Opens the blob for reading; BLOB_UNKNOWN when the repository does not hold it. */
  openBlob(name: string, digest: Digest): Promise<BlobReader>;
  readSmallBlob(name: string, digest: Digest): Promise<Buffer>;
  /** Stores bytes already hashed by the caller (manifests), atomically. */
  writeSmallBlob(name: string, digest: Digest, bytes: Uint8Array): Promise<void>;
  deleteBlob(name: string, digest: Digest): Promise<void>;
  /** Makes `from`'s blob available in `to`; false when `from` does not hold it. */
  mountBlob(from: string, to: string, digest: Digest): Promise<boolean>;

  readIndex(name: string): Promise<OciIndexFile>;
  /** Runs `change` on a copy of the index under the repository's lock and saves the result atomically. */
  updateIndex<T>(name: string, change: (index: OciIndexFile) => T | Promise<T>): Promise<T>;
  /** The repository's blob files, read without its lock (figures for metrics; may be a moment old). */
  listBlobs(name: string): Promise<BlobFile[]>;
  /** Runs `work` holding the repository's lock: index updates and pushes of manifests wait. */
  withRepository<T>(name: string, work: (transaction: RepositoryTransaction) => Promise<T>): Promise<T>;

  uploads: UploadStore;
}

export interface UploadStore {
  create(name: string): Promise<{ id: string; offset: number }>;
  /** Current size of the session's data. */
  offset(name: string, id: string): Promise<number>;
  /**
   * Appends `body` at the session's end. `start` (from Content-Range) must equal the current size,
   * else RANGE_INVALID and the session is unchanged. An interrupted body leaves the session as it was.
   */
  append(name: string, id: string, body: Readable, start?: number): Promise<number>;
  /** Appends `body` if given, checks `digest`, and moves the data into the blob store. */
  commit(name: string, id: string, digest: Digest, body?: Readable): Promise<number>;
  cancel(name: string, id: string): Promise<void>;
}

/** `Store.updateIndex` for every store: a copy of the index changed and written under the repository's lock. */
export async function updateIndexOf<T>(store: Store, name: string, change: (index: OciIndexFile) => T | Promise<T>): Promise<T> {
  await store.ensureRepository(name);
  return store.withRepository(name, async (transaction) => {
    const current = await transaction.readIndex();
    const next: OciIndexFile = { ...current, manifests: [...current.manifests] };
    const result = await change(next);
    await transaction.writeIndex(next);
    return result;
  });
}
