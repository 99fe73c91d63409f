/**
 * Blobs and upload sessions. Spec: distribution-spec v1.1 "Pulling blobs", "Pushing blobs",
 * "Mounting a blob from another repository", "Deleting Blobs".
 */
import type { Readable } from 'node:stream';
import { RegistryError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import { assertValidName } from '../oci/names.js';
import type { BlobReader, Store } from '../storage/store.js';
import type { ManifestCatalog } from './manifest-catalog.js';

export type UploadStart = { kind: 'created'; digest: string } | { kind: 'session'; id: string; offset: number };

export class BlobService {
  constructor(
    private readonly store: Store,
    private readonly catalog: ManifestCatalog,
  ) {}

  async size(name: string, digest: Digest): Promise<number> {
    assertValidName(name);
    const size = await this.store.statBlob(name, digest);
    if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
    return size;
  }

  async open(name: string, digest: Digest): Promise<BlobReader> {
    assertValidName(name);
    return this.store.openBlob(name, digest);
  }

  /** Refuses to remove a blob that a manifest in the repository still needs (zot does the same). */
  async delete(name: string, digest: Digest): Promise<void> {
    await this.size(name, digest);
    // Under the lock, so no manifest push can start using the blob between the check and the delete.
    await this.store.withRepository(name, async (transaction) => {
      const holders = await this.catalog.allFacts(name);
      const user = holders.find(({ entry, facts }) => entry.digest === digest.value || facts.blobs.includes(digest.value) || facts.manifests.includes(digest.value));
      if (user) throw new RegistryError('BLOB_IN_USE', { digest: digest.value, manifest: user.entry.digest });
      await transaction.deleteBlob(digest);
    });
  }

  /** Cross-repository mount; undefined when `from` does not hold the blob (the caller opens a session). */
  async mount(name: string, from: string, digest: Digest): Promise<string | undefined> {
    assertValidName(name);
    assertValidName(from);
    return (await this.store.mountBlob(from, name, digest)) ? digest.value : undefined;
  }

  /** POST: a monolithic upload when `digest` is given, else a new session. */
  async start(name: string, digest?: Digest, body?: Readable): Promise<UploadStart> {
    assertValidName(name);
    const session = await this.store.uploads.create(name);
    if (!digest) return { kind: 'session', ...session };
    try {
      await this.store.uploads.commit(name, session.id, digest, body);
    } catch (error) {
      await this.store.uploads.cancel(name, session.id).catch(() => undefined);
      throw error;
    }
    return { kind: 'created', digest: digest.value };
  }

  async status(name: string, id: string): Promise<number> {
    assertValidName(name);
    return this.store.uploads.offset(name, id);
  }

  async append(name: string, id: string, body: Readable, start?: number): Promise<number> {
    assertValidName(name);
    return this.store.uploads.append(name, id, body, start);
  }

  async finish(name: string, id: string, digest: Digest, body?: Readable): Promise<void> {
    assertValidName(name);
    await this.store.uploads.commit(name, id, digest, body);
  }

  async cancel(name: string, id: string): Promise<void> {
    assertValidName(name);
    await this.store.uploads.cancel(name, id);
  }
}
