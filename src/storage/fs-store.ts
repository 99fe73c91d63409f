/** The filesystem store: zot's on-disk layout (see layout.ts), safe against crashes and races. */
import { appendFile, copyFile, link, open, readFile, rename, rm, rmdir, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { isErrorKey, RegistryError, type ErrorKey } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import { OCI_INDEX } from '../oci/media-types.js';
import { Layout } from './layout.js';
import { KeyedMutex } from '../coordination/keyed-mutex.js';
import { ensureFolder, fsyncFolder, isNotFound, positionalReader, writeFileAtomic } from './files.js';
import { FsUploads } from './fs-uploads.js';
import { DedupeIndex } from './dedupe-index.js';
import { updateIndexOf, type BlobFile, type BlobReader, type IndexChange, type OciIndexFile, type RepositoryTransaction, type Store } from './store.js';
import { listBlobFiles, listUploadFiles } from './fs-listing.js';
import { FsIndexes } from './fs-indexes.js';
import { FsCatalog } from './fs-catalog.js';

const OCI_LAYOUT = JSON.stringify({ imageLayoutVersion: '1.0.0' });

export class FsStore implements Store {
  readonly layout: Layout;
  readonly uploads: FsUploads;
  readonly replicated = false;
  private readonly repoLocks = new KeyedMutex();
  private readonly indexes: FsIndexes;
  /** Folders this process made sure of (.uploads, blobs/<alg>): a push need not mkdir them again. */
  private readonly folders = new Set<string>();
  private readonly catalog: FsCatalog;

  private readonly dedupeIndex: DedupeIndex;

  /** With `dedupe` (zot's default), a blob held by several repositories is stored once, hard-linked. */
  constructor(
    root: string,
    private readonly options: { dedupe: boolean } = { dedupe: true },
  ) {
    this.layout = new Layout(root);
    this.catalog = new FsCatalog(root);
    this.uploads = new FsUploads(
      this.layout,
      (name) => this.ensureRepository(name),
      (name, digest, file) => this.adoptBlob(name, digest, file),
    );
    this.dedupeIndex = new DedupeIndex(this.layout, () => this.listRepositories());
    this.indexes = new FsIndexes({ layout: this.layout, locks: this.repoLocks, tempFile: (name) => this.tempFile(name), transaction: (name) => this.transactionOf(name) });
  }

  async ensureRepository(name: string): Promise<void> {
    if (this.catalog.has(name)) return;
    await ensureFolder(this.layout.blobFolder(name, 'sha256'));
    await ensureFolder(this.layout.uploads(name));
    await this.repoLocks.run(name, async () => {
      if (!(await exists(this.layout.ociLayout(name)))) await writeFileAtomic(this.layout.ociLayout(name), OCI_LAYOUT, await this.tempFile(name));
      if (!(await exists(this.layout.index(name)))) {
        await writeFileAtomic(this.layout.index(name), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }), await this.tempFile(name));
      }
    });
    this.catalog.added(name);
  }

  async checkWritable(): Promise<void> {
    const probe = this.layout.stateDocument('ready-probe');
    await ensureFolder(path.dirname(probe));
    await writeFileAtomic(probe, new Date().toISOString());
    // Two probes at once may race to remove the same file; either outcome proves writability.
    await unlink(probe).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
  }

  async repositoryExists(name: string): Promise<boolean> {
    if (this.catalog.has(name)) return true;
    return exists(this.layout.index(name));
  }

  listRepositories(): Promise<readonly string[]> {
    return this.catalog.list();
  }

  async statBlob(name: string, digest: Digest): Promise<number | undefined> {
    try {
      const info = await stat(this.layout.blob(name, digest));
      return info.isFile() ? info.size : undefined;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async openBlob(name: string, digest: Digest): Promise<BlobReader> {
    let handle: FileHandle;
    try {
      handle = await open(this.layout.blob(name, digest), 'r');
    } catch (error) {
      if (isNotFound(error)) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
      throw error;
    }
    const { size } = await handle.stat();
    return { size, ...positionalReader(handle) };
  }

  async readSmallBlob(name: string, digest: Digest): Promise<Buffer> {
    try {
      return await readFile(this.layout.blob(name, digest));
    } catch (error) {
      if (isNotFound(error)) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
      throw error;
    }
  }

  async writeSmallBlob(name: string, digest: Digest, bytes: Uint8Array): Promise<void> {
    await this.ensureRepository(name);
    await this.writeBlobFile(name, digest, bytes);
  }

  private async writeBlobFile(name: string, digest: Digest, bytes: Uint8Array): Promise<void> {
    const target = this.layout.blob(name, digest);
    if (await exists(target)) return;
    try {
      await this.ensureFolderOnce(path.dirname(target));
      await writeFileAtomic(target, bytes, await this.tempFile(name));
    } catch (error) {
      if (!isNotFound(error)) throw error;
      // A folder this process had made is gone (removed by hand): make it again, once.
      this.folders.clear();
      await ensureFolder(path.dirname(target));
      await writeFileAtomic(target, bytes, await this.tempFile(name));
    }
  }

  private async ensureFolderOnce(folder: string): Promise<void> {
    if (this.folders.has(folder)) return;
    await ensureFolder(folder);
    this.folders.add(folder);
  }

  /**
   * Where a repository file is written before its rename into place: `.uploads/<uuid>`, not beside
   * the target. A kill -9 between write and rename then leaves an upload-like file that garbage
   * collection removes after gcDelay; beside the target (`blobs/sha256/.<hex>.<uuid>.tmp`) nothing
   * ever reclaimed it.
   */
  private async tempFile(name: string): Promise<string> {
    // A zot tree may lack .uploads in a repository nobody pushed a blob to.
    await this.ensureFolderOnce(this.layout.uploads(name));
    return this.layout.upload(name, randomUUID());
  }

  async deleteBlob(name: string, digest: Digest): Promise<void> {
    try {
      // Only this repository's link goes: other repositories sharing the bytes keep them.
      await unlink(this.layout.blob(name, digest));
    } catch (error) {
      if (isNotFound(error)) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
      throw error;
    }
    if (this.options.dedupe) await this.dedupeIndex.remove(digest.value, name);
  }

  async mountBlob(from: string, to: string, digest: Digest): Promise<boolean> {
    const source = this.layout.blob(from, digest);
    if (!(await exists(source))) return false;
    await this.ensureRepository(to);
    const target = this.layout.blob(to, digest);
    if (await exists(target)) {
      // The mount promises the blob to a manifest push to come: an old unreferenced copy must look
      // new to garbage collection until then, as a fresh link does.
      const now = new Date();
      await utimes(target, now, now).catch((error: unknown) => {
        if (!isNotFound(error)) throw error;
      });
      if (await exists(target)) return true;
    }
    await ensureFolder(path.dirname(target));
    const temp = path.join(this.layout.uploads(to), randomUUID());
    try {
      if (!this.options.dedupe || !(await linkFresh(source, temp))) await copyFile(source, temp);
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
    await this.placeBlob(to, digest, temp);
    return true;
  }

  /** Moves a verified upload file into the blob store (the last step of a commit). */
  private async adoptBlob(name: string, digest: Digest, file: string): Promise<void> {
    if (this.options.dedupe && (await this.linkFromHolder(name, digest, (await stat(file)).size))) {
      await unlink(file);
      return;
    }
    await this.placeBlob(name, digest, file);
  }

  /** Links the blob from another repository that holds it; false when none does (any more). */
  private async linkFromHolder(name: string, digest: Digest, size: number): Promise<boolean> {
    for (const holder of await this.dedupeIndex.holdersOf(digest.value)) {
      if (holder === name) continue;
      // The upload was just verified; a holder's copy of another size is damaged: never share it.
      if ((await this.statBlob(holder, digest)) !== size) continue;
      const temp = path.join(this.layout.uploads(name), randomUUID());
      try {
        if (!(await linkFresh(this.layout.blob(holder, digest), temp))) return false;
      } catch (error) {
        if (!isNotFound(error)) throw error;
        await this.dedupeIndex.remove(digest.value, holder);
        continue;
      }
      await this.placeBlob(name, digest, temp);
      return true;
    }
    return false;
  }

  /** Under the repository's lock, so garbage collection never unlinks a blob placed after it listed. */
  private placeBlob(name: string, digest: Digest, file: string): Promise<void> {
    return this.repoLocks.run(name, () => this.placeBlobLocked(name, digest, file));
  }

  private async placeBlobLocked(name: string, digest: Digest, file: string): Promise<void> {
    // A session opened before its repository was deleted must not leave a blob outside any repository.
    if (!this.catalog.has(name) && !(await exists(this.layout.index(name)))) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { reason: 'the repository was deleted during the upload' });
    const target = this.layout.blob(name, digest);
    await ensureFolder(path.dirname(target));
    try {
      await rename(file, target);
    } catch (error) {
      // Garbage collection took the session while this commit waited for the lock (gcDelay 0).
      if (isNotFound(error)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { reason: 'the upload session was collected before it was committed' });
      throw error;
    }
    // rename(2) does nothing when `file` and `target` are already links to the same file (a blob
    // linked from another repository into one that holds it), leaving `file` in .uploads.
    await unlink(file).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
    await fsyncFolder(path.dirname(target));
    if (this.options.dedupe) await this.dedupeIndex.add(digest.value, name);
  }

  async removeRepository(name: string): Promise<boolean> {
    const folder = this.layout.repository(name);
    return this.repoLocks.run(name, async () => {
      let index: OciIndexFile;
      try {
        index = await this.indexes.readLocked(name);
      } catch (error) {
        if (isErrorKey(error, 'NAME_UNKNOWN')) return true;
        throw error;
      }
      if (index.manifests.length > 0) return false;
      // Not a repository from here on: a push starting now makes it again once this is done.
      this.catalog.removed(name);
      // Blobs and sessions first, index.json next: a crash in between leaves an empty repository
      // (its journal says so), still listed and removable again, never blobs no garbage collection
      // visits. The journal goes after index.json: before, a crash would bring back the index.json
      // of before the manifests were deleted, naming blobs that are gone.
      const transaction = this.transactionOf(name);
      for (const blob of await transaction.listBlobs()) await this.deleteBlob(name, blob.digest).catch(ignoreKey('BLOB_UNKNOWN'));
      for (const upload of await transaction.listUploads()) await transaction.deleteUpload(upload.id);
      await rm(this.layout.index(name), { force: true });
      await fsyncFolder(folder);
      await this.indexes.forget(name);
      await rm(this.layout.ociLayout(name), { force: true });
      await rm(this.layout.derivedRecord(name), { force: true });
      await rm(this.layout.derivedFolder(name), { recursive: true, force: true });
      // Folders only when empty: a repository nested below this name (`name/sub`) lives in them.
      for (const empty of [this.layout.blobFolder(name, 'sha256'), this.layout.blobFolder(name, 'sha512'), this.layout.blobsRoot(name), this.layout.uploads(name), folder]) {
        this.folders.delete(empty);
        await rmdir(empty).catch((error: unknown) => {
          const code = (error as NodeJS.ErrnoException).code;
          if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
        });
      }
      await fsyncFolder(path.dirname(folder)).catch(() => undefined);
      return true;
    });
  }

  readIndex(name: string): Promise<OciIndexFile> {
    return this.indexes.read(name).catch((error: unknown) => {
      // Removed by another instance (or by hand): not a repository any more.
      if (isErrorKey(error, 'NAME_UNKNOWN')) this.catalog.removed(name);
      throw error;
    });
  }

  indexVersion(name: string): Promise<string> {
    return this.indexes.version(name);
  }

  changeIndex<T>(name: string, change: IndexChange<T>): Promise<T> {
    return this.indexes.change(name, change);
  }

  updateIndex<T>(name: string, change: (index: OciIndexFile) => T | Promise<T>): Promise<T> {
    return updateIndexOf(this, name, change);
  }

  async readDerived(key: string): Promise<string> {
    try {
      return await readFile(this.layout.derivedRecord(key), 'utf8');
    } catch (error) {
      if (isNotFound(error)) return '';
      throw error;
    }
  }

  async appendDerived(key: string, text: string): Promise<void> {
    const file = this.layout.derivedRecord(key);
    await ensureFolder(path.dirname(file));
    // O_APPEND, one write: lines of concurrent appends do not interleave; no fsync (rebuilt if lost).
    await appendFile(file, text, { mode: 0o600 });
  }

  async replaceDerived(key: string, text: string): Promise<void> {
    const file = this.layout.derivedRecord(key);
    await ensureFolder(path.dirname(file));
    await writeFileAtomic(file, text);
  }

  flush(): Promise<void> {
    return this.indexes.flush();
  }

  close(): Promise<void> {
    return this.indexes.close();
  }

  listBlobs(name: string): Promise<BlobFile[]> {
    return listBlobFiles(this.layout, name);
  }

  withRepository<T>(name: string, work: (transaction: RepositoryTransaction) => Promise<T>): Promise<T> {
    return this.repoLocks.run(name, () => work(this.transactionOf(name)));
  }

  /** What may be done to `name` by a caller holding its lock. */
  private transactionOf(name: string): RepositoryTransaction {
    const layout = this.layout;
    return {
      readIndex: () => this.indexes.readLocked(name),
      writeIndex: (index) => this.indexes.writeLocked(name, index),
      statBlob: (digest) => this.statBlob(name, digest),
      writeSmallBlob: (digest, bytes) => this.writeBlobFile(name, digest, bytes),
      listBlobs: () => listBlobFiles(layout, name),
      deleteBlob: (digest) => this.deleteBlob(name, digest),
      listUploads: () => listUploadFiles(layout, name),
      deleteUpload: async (id) => {
        await unlink(layout.upload(name, id)).catch((error: unknown) => {
          if (!isNotFound(error)) throw error;
        });
      },
    };
  }
}

/**
 * Hard-links `source` to `temp` and marks the bytes as just written: a blob linked into a repository
 * must look fresh to that repository's garbage collection until its manifest arrives. False when
 * the two paths are on different file systems.
 */
async function linkFresh(source: string, temp: string): Promise<boolean> {
  try {
    await link(source, temp);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EXDEV') return false;
    throw error;
  }
  const now = new Date();
  await utimes(temp, now, now);
  return true;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** A catch handler that ignores the RegistryError `key` (a file another caller removed first). */
function ignoreKey(key: ErrorKey): (error: unknown) => void {
  return (error) => {
    if (!isErrorKey(error, key)) throw error;
  };
}
