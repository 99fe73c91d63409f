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
/**
 * Who pushed an index entry, as the request's identity names them (absent for anonymous pushes),
 * and how they proved it (`htpasswd`, `session`, `apikey`, `workload`): the repository page and
 * the image page show it. Annotations like PUSHED_AT, which zot ignores.
 */
export const PUSHED_BY = 'dev.berth.pushed-by';
export const PUSHED_VIA = 'dev.berth.pushed-via';

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
 * A repository's index while a change runs (`Store.changeIndex`): lookups and edits that cost the
 * same in a repository of 10 tags as in one of 10,000. An entry's key is its tag, or its digest
 * when untagged: `put` replaces the entry of the same key and moves it to the end of the list.
 */
export interface IndexEditor {
  /** How many entries the index holds (0: no manifest yet). */
  readonly size: number;
  /** The entry tagged `tag`. */
  tagged(tag: string): Descriptor | undefined;
  /** Whether any entry, tagged or not, names `digest`. */
  holds(digest: string): boolean;
  /** Every entry naming `digest` (walks the index: for deletes by digest). */
  withDigest(digest: string): Descriptor[];
  put(entry: Descriptor): void;
  remove(entry: Descriptor): void;
}

/**
 * One caller's change to an index, applied together with the changes other callers make to the
 * same repository at the same time (group commit): one write and one fsync for the group, and each
 * caller answered once the group is on disk.
 */
export interface IndexChange<T> {
  /**
   * What needs the repository's lock but not the index (checks that blobs are held, writing the
   * manifest's bytes); runs side by side with the group's other `prepare`s. A throw fails only
   * this change.
   */
  prepare?(transaction: RepositoryTransaction): Promise<void>;
  /**
   * Changes the index, alone, on the index as the group's earlier changes left it. A throw fails
   * only this change, and undoes its edits: check before editing.
   */
  apply(index: IndexEditor): T;
  /**
   * Called with `apply`'s result once the group is on disk, still under the repository's lock, in
   * the order the changes were applied, before any caller of the group is answered; never for a
   * change that failed. For what must take its place in line with the index changes themselves (the
   * events outbox does, so a repository's events follow the order of its writes across replicas).
   * Synchronous and must not throw: start the work here, await it after `changeIndex` resolves.
   */
  committed?(value: T): void;
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
  /**
   * Whether other processes may write this storage while this one runs (S3 replicas sharing a
   * bucket); on the filesystem one server writes a root (server-claim.ts). Read models that follow
   * this process's writes look for others' only when true.
   */
  readonly replicated: boolean;
  /** Every repository, sorted: one shared, frozen array (cached; never copy or sort it per request). */
  listRepositories(): Promise<readonly string[]>;
  /** Throws unless a file can be written, synced and removed under the storage root (readiness). */
  checkWritable(): Promise<void>;
  repositoryExists(name: string): Promise<boolean>;
  /** Creates the repository's OCI layout if it is not there yet. */
  ensureRepository(name: string): Promise<void>;

  /**
   * Removes a repository whose index holds no manifest (deleting it from the web UI): this
   * repository's blobs (other repositories keep the bytes they share), its upload sessions, its
   * index, layout file and derived record, under its lock. Repositories nested below its name stay.
   * True once the repository is not there (removed now, or before); false, with nothing removed,
   * when its index holds a manifest (a push came first).
   */
  removeRepository(name: string): Promise<boolean>;

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
  /**
   * Which version of the index stands now, without reading it (a stat, a HEAD): a text that changes
   * whenever the index does, and names one content only (filesystem: index.json's identity and its
   * journal's size, never seen again once changed; S3: the object's ETag, which only the same bytes
   * share). A derived record kept for one version is stale under any other. Asked before the index
   * is read, it is never newer than what the read returns.
   * NAME_UNKNOWN when the repository has no index.
   */
  indexVersion(name: string): Promise<string>;
  /**
   * Applies `change` to the index under the repository's lock, grouped with concurrent changes
   * (see `IndexChange`); resolves once the change is on disk. The repository must exist.
   */
  changeIndex<T>(name: string, change: IndexChange<T>): Promise<T>;
  /** Runs `change` on a copy of the index under the repository's lock and saves the result atomically. */
  updateIndex<T>(name: string, change: (index: OciIndexFile) => T | Promise<T>): Promise<T>;
  /** The repository's blob files, read without its lock (figures for metrics; may be a moment old). */
  listBlobs(name: string): Promise<BlobFile[]>;
  /** Runs `work` holding the repository's lock: index updates and pushes of manifests wait. */
  withRepository<T>(name: string, work: (transaction: RepositoryTransaction) => Promise<T>): Promise<T>;

  /**
   * Berth's derived records (the web UI's read models, src/browse/): lines of text that can always
   * be rebuilt from the rest of the storage, so one lost, torn or left behind costs only time. `key`
   * is a repository name, `<name>#<kind>` for another of its records (`kind`: lowercase letters, then digits), or
   * '' for the registry-wide record. '' when there is none.
   */
  readDerived(key: string): Promise<string>;
  /**
   * Adds lines to a derived record, without fsync and without the repository's lock: readers skip a
   * torn line. On S3 (no append) a read and a write, so two replicas appending at once may lose one's lines.
   */
  appendDerived(key: string, text: string): Promise<void>;
  /** Replaces a derived record whole (compaction). */
  replaceDerived(key: string, text: string): Promise<void>;

  /**
   * Brings every repository's index.json up to date with the changes written elsewhere first (the
   * filesystem store's index journal), this process's and those an earlier one left; the server's
   * start-up and `berth gc` call it. Writes: never beside a server that writes the same storage.
   */
  flush(): Promise<void>;
  /** Brings up to date what this process changed, and lets go of files and timers (shutdown). */
  close(): Promise<void>;

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
  /**
   * The session's bytes so far, readable while it is written and after its commit (the pull-through
   * cache's clients that fell behind a download or joined it late follow it there). Only where a
   * session is a file (absent on S3, where they wait for the stored blob).
   */
  openSession?(name: string, id: string): Promise<SessionReader>;
}

/** A session's bytes as they are written: `read` returns 0 at what is written so far. */
export type SessionReader = Pick<BlobReader, 'read' | 'close'>;

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
