/**
 * The S3 store: the filesystem store's tree (layout.ts) under a key prefix of one bucket, so that
 * several stateless replicas can serve it together. What replicas must agree on goes through
 * `Coordination`: the repository lock `repo:<name>` (index.json updates, placing blobs, garbage
 * collection) and the upload sessions (s3-uploads.ts). Nothing a replica keeps in memory is more
 * than a cache: index.json is revalidated by ETag on every read.
 *
 * The lock is not trusted alone with index.json: a holder can outlive its lock (cut off from Redis,
 * or stalled, for longer than the lock's expiry) and go on writing while another replica holds it.
 * So index.json is written only over the version the writer read (If-Match) or, when creating it,
 * only if there is none (If-None-Match: *): a late writer fails instead of losing the other's update.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { isErrorKey, RegistryError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import { OCI_INDEX } from '../oci/media-types.js';
import type { Coordination } from '../coordination/coordination.js';
import type { S3StorageConfig } from '../config/config.js';
import { ObjectKeys } from './layout.js';
import { Bucket } from './s3-bucket.js';
import { isMissing, isPreconditionFailed } from './s3-client.js';
import { S3BlobReader } from './s3-blob-reader.js';
import { S3Uploads, type BlobSource } from './s3-uploads.js';
import { updateIndexOf, type BlobFile, type BlobReader, type IndexChange, type OciIndexFile, type RepositoryTransaction, type Store } from './store.js';
import { answer, GroupCommit, runGroup, type Waiting } from './group-commit.js';
import { LiveIndex } from './live-index.js';
import { S3Catalog } from './s3-catalog.js';
import { inParallel } from '../coordination/in-parallel.js';

const OCI_LAYOUT = JSON.stringify({ imageLayoutVersion: '1.0.0' });
const JSON_TYPE = 'application/json';
/** Objects deleted at once when a repository is removed. */
const DELETES_AT_ONCE = 16;

export interface S3StoreOptions {
  client: S3Client;
  /** `bucket` and `rootDirectory` are used here; the rest made the client (createS3Client). */
  settings: Pick<S3StorageConfig, 'bucket' | 'rootDirectory'>;
  coordination: Coordination;
  /** Tests only: copy objects above `maxCopyObject` bytes (S3: 5 GiB) in parts of `copyPartSize`. */
  copy?: { maxCopyObject?: number; copyPartSize?: number };
}

interface CachedIndex {
  etag: string;
  index: OciIndexFile;
}

export class S3Store implements Store {
  readonly keys: ObjectKeys;
  readonly bucket: Bucket;
  readonly uploads: S3Uploads;
  /** Replicas share the bucket (with Redis for coordination): others write while this one runs. */
  readonly replicated = true;
  private readonly coordination: Coordination;
  private readonly indexes = new Map<string, CachedIndex>();
  private readonly catalog: S3Catalog;
  /** Concurrent changes to one repository share one lock hold and one PUT of index.json. */
  private readonly groups = new GroupCommit((name, take) => this.lockRepository(name, () => this.commit(name, take())));
  /** The index last written or changed here, as a map, with the ETag it matches (saves rebuilding it per group). */
  private readonly live = new Map<string, { etag: string; index: LiveIndex }>();

  constructor(private readonly options: S3StoreOptions) {
    this.keys = new ObjectKeys(options.settings.rootDirectory);
    this.bucket = new Bucket(options.client, options.settings.bucket);
    this.coordination = options.coordination;
    this.catalog = new S3Catalog(this.bucket, this.keys, this.coordination);
    this.uploads = new S3Uploads({
      bucket: this.bucket,
      keys: this.keys,
      coordination: options.coordination,
      ensureRepository: (name) => this.ensureRepository(name),
      placeBlob: (name, digest, source) => this.placeBlob(name, digest, source),
    });
  }

  private lockRepository<T>(name: string, work: () => Promise<T>): Promise<T> {
    this.keys.repository(name); // NAME_INVALID before any lock is taken
    return this.coordination.locks.run(`repo:${name}`, work);
  }

  async ensureRepository(name: string): Promise<void> {
    if (await this.catalog.stillKnown(name)) return;
    const created = await this.lockRepository(name, async () => {
      if (await this.bucket.head(this.keys.index(name))) return false;
      // oci-layout first: a folder with an index.json is a repository (listRepositories).
      await this.bucket.put(this.keys.ociLayout(name), OCI_LAYOUT, JSON_TYPE);
      try {
        await this.putIndex(name, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }, { ifNoneMatch: '*' });
      } catch (error) {
        // Another replica created it since the HEAD (its lock lapsed, or ours): keep theirs.
        if (!(isErrorKey(error, 'UNAVAILABLE') && isPreconditionFailed(error.cause))) throw error;
      }
      return true;
    });
    await this.catalog.added(name, created);
  }

  async removeRepository(name: string): Promise<boolean> {
    const removed = await this.lockRepository(name, async () => {
      let found: { index: OciIndexFile; etag: string | undefined };
      try {
        found = await this.loadIndex(name);
      } catch (error) {
        if (isErrorKey(error, 'NAME_UNKNOWN')) return 'missing' as const;
        throw error;
      }
      if (found.index.manifests.length > 0) return 'held' as const;
      // Not a repository from here on: a push starting now makes it again once this is done.
      this.catalog.forget(name);
      // Blobs and sessions first, index.json last: a failure in between leaves an empty repository,
      // still listed and removable again, never blobs no garbage collection visits.
      await inParallel(await this.listBlobs(name), DELETES_AT_ONCE, (blob) => this.bucket.delete(this.keys.blob(name, blob.digest)));
      await inParallel(await this.uploads.list(name), DELETES_AT_ONCE, (upload) => this.uploads.remove(name, upload.id));
      // S3 has no conditional DELETE everywhere: look once more that no push changed the index (it
      // could only if this lock lapsed meanwhile).
      const now = await this.loadIndex(name).catch(() => undefined);
      if (now && (now.etag !== found.etag || now.index.manifests.length > 0)) return 'held' as const;
      await this.bucket.delete(this.keys.index(name));
      await this.bucket.delete(this.keys.ociLayout(name));
      await this.bucket.delete(this.keys.derivedRecord(name));
      await inParallel(await this.bucket.list(this.keys.derivedPrefix(name)), DELETES_AT_ONCE, (object) => this.bucket.delete(object.key));
      this.indexes.delete(name);
      this.live.delete(name);
      return 'removed' as const;
    });
    if (removed === 'removed') await this.catalog.removed(name);
    return removed !== 'held';
  }

  /** A PUT and a DELETE of `_berth/ready-probe-<random>`: replicas probing at once never collide. */
  async checkWritable(): Promise<void> {
    const probe = this.keys.stateObject(`ready-probe-${randomBytes(8).toString('hex')}`);
    await this.bucket.put(probe, new Date().toISOString());
    await this.bucket.delete(probe);
  }

  async repositoryExists(name: string): Promise<boolean> {
    if (this.catalog.has(name)) return true;
    return (await this.bucket.head(this.keys.index(name))) !== undefined;
  }

  listRepositories(): Promise<readonly string[]> {
    return this.catalog.list();
  }

  async statBlob(name: string, digest: Digest): Promise<number | undefined> {
    return (await this.bucket.head(this.keys.blob(name, digest)))?.size;
  }

  async openBlob(name: string, digest: Digest): Promise<BlobReader> {
    const key = this.keys.blob(name, digest);
    const info = await this.bucket.head(key);
    if (!info) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
    return new S3BlobReader(this.bucket, key, info.size);
  }

  async readSmallBlob(name: string, digest: Digest): Promise<Buffer> {
    const bytes = await this.bucket.getBytes(this.keys.blob(name, digest));
    if (!bytes) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
    return bytes;
  }

  async writeSmallBlob(name: string, digest: Digest, bytes: Uint8Array): Promise<void> {
    await this.ensureRepository(name);
    await this.bucket.put(this.keys.blob(name, digest), bytes);
  }

  async deleteBlob(name: string, digest: Digest): Promise<void> {
    const key = this.keys.blob(name, digest);
    if (!(await this.bucket.head(key))) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
    await this.bucket.delete(key);
  }

  /** A server-side copy: the bytes never pass through Berth, and the copy is new to `to`'s GC. */
  async mountBlob(from: string, to: string, digest: Digest): Promise<boolean> {
    const source = this.keys.blob(from, digest);
    const info = await this.bucket.head(source);
    if (!info) return false;
    // S3 refuses to copy an object onto itself.
    if (from === to) return true;
    await this.ensureRepository(to);
    // Copied even when `to` holds the blob already: the fresh copy is what keeps garbage collection
    // (gcDelay) from taking an old, unreferenced copy before the client pushes the manifest.
    try {
      await this.placeBlob(to, digest, { copyFrom: source, size: info.size });
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
    return true;
  }

  /** Under the repository's lock, so garbage collection never deletes a blob placed after it listed. */
  private placeBlob(name: string, digest: Digest, source: BlobSource): Promise<void> {
    const target = this.keys.blob(name, digest);
    return this.lockRepository(name, async () => {
      // A session opened before its repository was deleted must not leave a blob outside any repository.
      if (!(await this.catalog.stillKnown(name)) && !(await this.bucket.head(this.keys.index(name)))) {
        throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { reason: 'the repository was deleted during the upload' });
      }
      if ('bytes' in source) await this.bucket.put(target, source.bytes);
      else await this.bucket.copy(source.copyFrom, target, source.size, this.options.copy);
    });
  }

  async readIndex(name: string): Promise<OciIndexFile> {
    return (await this.loadIndex(name)).index;
  }

  /** The index and the ETag of the version read (what a write in the same transaction must replace). */
  private async loadIndex(name: string): Promise<{ index: OciIndexFile; etag: string | undefined }> {
    const key = this.keys.index(name);
    const cached = this.indexes.get(name);
    // Conditional GET: another replica's push shows at once, an unchanged index costs no body.
    const found = await this.bucket.getIfChanged(key, cached?.etag);
    if (found === 'unchanged' && cached) return cached;
    if (found === undefined || found === 'unchanged') {
      this.indexes.delete(name);
      this.catalog.forget(name);
      throw new RegistryError('NAME_UNKNOWN', { name });
    }
    const index = parseIndex(found.bytes.toString('utf8'), key);
    if (found.etag) this.indexes.set(name, { etag: found.etag, index });
    return { index, etag: found.etag };
  }

  /** The ETag: a HEAD, no body (S3 writes index.json whole at each change; there is no journal). */
  async indexVersion(name: string): Promise<string> {
    const info = await this.bucket.head(this.keys.index(name));
    if (!info) throw new RegistryError('NAME_UNKNOWN', { name });
    // A store that sends no ETag (none known): a version nothing matches, so no record is trusted.
    return info.etag ?? `unversioned:${randomUUID()}`;
  }

  updateIndex<T>(name: string, change: (index: OciIndexFile) => T | Promise<T>): Promise<T> {
    return updateIndexOf(this, name, change);
  }

  changeIndex<T>(name: string, change: IndexChange<T>): Promise<T> {
    return this.groups.submit(name, change);
  }

  /**
   * One group, under the repository's lock: the index read (revalidated by ETag), every change
   * applied, one conditional PUT. S3 has no append: the PUT is the whole index, once per group.
   */
  private async commit(name: string, group: Waiting[]): Promise<void> {
    const { index, etag } = await this.loadIndex(name);
    const cached = this.live.get(name);
    // Taken out while in use: it goes back only once it matches what is stored again.
    this.live.delete(name);
    const live = cached && cached.etag === etag ? cached.index : new LiveIndex(index);
    const transaction = this.transactionOf(name);
    const outcomes = await runGroup(group, transaction, live);
    let stored = etag;
    if (live.takeDelta()) {
      try {
        stored = await this.putIndex(name, live.snapshot(), etag === undefined ? {} : { ifMatch: etag });
      } catch (error) {
        answer(outcomes, error);
        return;
      }
    }
    if (stored !== undefined) this.live.set(name, { etag: stored, index: live });
    answer(outcomes);
  }

  async readDerived(key: string): Promise<string> {
    return (await this.bucket.getBytes(this.keys.derivedRecord(key)))?.toString('utf8') ?? '';
  }

  /** S3 has no append: the record read and written back (a race loses lines, which only costs a rebuild). */
  async appendDerived(key: string, text: string): Promise<void> {
    await this.bucket.put(this.keys.derivedRecord(key), (await this.readDerived(key)) + text, 'text/plain');
  }

  async replaceDerived(key: string, text: string): Promise<void> {
    await this.bucket.put(this.keys.derivedRecord(key), text, 'text/plain');
  }

  /** Nothing waits to be written elsewhere: every change is a PUT of index.json. */
  async flush(): Promise<void> {}

  async close(): Promise<void> {}

  /**
   * One PUT: S3 replaces an object whole, so a reader never sees a half-written index. `condition`
   * (see the header): a PUT that finds another version fails with UNAVAILABLE and writes nothing.
   * Returns the new version's ETag.
   */
  private async putIndex(name: string, index: OciIndexFile, condition: { ifMatch?: string; ifNoneMatch?: '*' }): Promise<string | undefined> {
    let etag: string | undefined;
    try {
      etag = await this.bucket.put(this.keys.index(name), JSON.stringify(index), JSON_TYPE, condition);
    } catch (error) {
      this.indexes.delete(name);
      if (!isPreconditionFailed(error)) throw error;
      throw new RegistryError('UNAVAILABLE', `index.json of ${name} changed during this update (its lock expired under it); nothing was written, retry`, { cause: error });
    }
    // Keep what was just written: re-reading and re-parsing it made tag pushes quadratic.
    if (etag) this.indexes.set(name, { etag, index: Object.freeze({ ...index }) });
    else this.indexes.delete(name);
    return etag;
  }

  async listBlobs(name: string): Promise<BlobFile[]> {
    const found: BlobFile[] = [];
    for (const object of await this.bucket.list(this.keys.blobs(name))) {
      const digest = this.keys.digestOf(name, object.key);
      if (digest) found.push({ digest, size: object.size, modifiedMs: object.modifiedMs, links: 1 });
    }
    return found;
  }

  withRepository<T>(name: string, work: (transaction: RepositoryTransaction) => Promise<T>): Promise<T> {
    return this.lockRepository(name, () => work(this.transactionOf(name)));
  }

  /** What may be done to `name` by a caller holding its lock. */
  private transactionOf(name: string): RepositoryTransaction {
    // The version this transaction read (or last wrote): its writes replace only that one.
    let version: string | undefined;
    return {
      readIndex: async () => {
        const { index, etag } = await this.loadIndex(name);
        version = etag;
        return index;
      },
      writeIndex: async (index) => {
        this.live.delete(name);
        version = await this.putIndex(name, index, version === undefined ? {} : { ifMatch: version });
      },
      statBlob: (digest) => this.statBlob(name, digest),
      writeSmallBlob: (digest, bytes) => this.bucket.put(this.keys.blob(name, digest), bytes).then(() => undefined),
      listBlobs: () => this.listBlobs(name),
      deleteBlob: (digest) => this.deleteBlob(name, digest),
      listUploads: () => this.uploads.list(name),
      deleteUpload: (id) => this.uploads.remove(name, id),
    };
  }
}

function parseIndex(text: string, key: string): OciIndexFile {
  const index = JSON.parse(text) as OciIndexFile;
  if (typeof index !== 'object' || index === null || !Array.isArray(index.manifests)) {
    throw new Error(`${key} is not an OCI index`);
  }
  return Object.freeze(index);
}
