/**
 * Pushing, pulling and deleting manifests.
 * Spec: distribution-spec v1.1 "Pulling manifests", "Pushing Manifests", "Deleting Manifests".
 */
import { RegistryError } from '../oci/errors.js';
import { digestOf, parseDigest, type Digest } from '../oci/digest.js';
import { assertValidName, assertValidTag, isValidTag } from '../oci/names.js';
import { summarizeManifest, type Descriptor } from '../oci/manifest.js';
import { PUSHED_AT, REF_NAME, type RepositoryTransaction, type Store } from '../storage/store.js';
import { assertManifestSchema } from './manifest-schemas.js';
import { factsFrom, type ManifestCatalog } from './manifest-catalog.js';

/** The spec lets registries cap manifests; 4 MiB is what distribution and zot accept. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** A tag or a digest, as found in `/v2/<name>/manifests/<reference>`. */
export type Reference = { tag: string; digest?: undefined } | { digest: Digest; tag?: undefined };

/**
 * Parses a tag or digest. A malformed digest is DIGEST_INVALID; a string that cannot be a tag is
 * TAG_INVALID when pushing, but MANIFEST_UNKNOWN when reading or deleting: no such manifest can
 * exist, and the conformance suite expects 404 there.
 */
export function parseReference(reference: string, purpose: 'push' | 'lookup'): Reference {
  if (reference.includes(':')) {
    const digest = parseDigest(reference);
    if (!digest) throw new RegistryError('DIGEST_INVALID', { digest: reference });
    return { digest };
  }
  if (purpose === 'lookup' && !isValidTag(reference)) throw new RegistryError('MANIFEST_UNKNOWN', { tag: reference });
  assertValidTag(reference);
  return { tag: reference };
}

export interface PushResult {
  digest: string;
  subject?: string;
}

export class ManifestService {
  constructor(
    private readonly store: Store,
    private readonly catalog: ManifestCatalog,
  ) {}

  async head(name: string, reference: Reference): Promise<Descriptor> {
    assertValidName(name);
    return this.catalog.resolve(name, reference.digest ?? reference.tag);
  }

  async get(name: string, reference: Reference): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    const descriptor = await this.head(name, reference);
    const bytes = await this.catalog.readBytes(name, parseDigest(descriptor.digest)!);
    return { descriptor, bytes };
  }

  /**
   * Stores a manifest. `mayMoveTag` is the caller's `update` permission: pointing an existing tag at
   * other content needs it, which is known only here, under the repository's lock (fails closed).
   */
  async put(name: string, reference: Reference, bytes: Buffer, contentType: string | undefined, { mayMoveTag }: { mayMoveTag: boolean }): Promise<PushResult> {
    assertValidName(name);
    if (bytes.length > MAX_MANIFEST_BYTES) throw new RegistryError('MANIFEST_TOO_LARGE', { limit: MAX_MANIFEST_BYTES });
    const digest = digestOf(bytes, reference.digest?.algorithm ?? 'sha256');
    if (reference.digest && reference.digest.value !== digest.value) {
      throw new RegistryError('DIGEST_INVALID', { digest: reference.digest.value, reason: `manifest has digest ${digest.value}` });
    }
    const summary = summarizeManifest(bytes, contentType);
    assertManifestSchema(summary.mediaType, summary.document);
    const entry: Descriptor = { mediaType: summary.mediaType, digest: digest.value, size: bytes.length };
    if (summary.artifactType !== undefined && summary.document.artifactType !== undefined) entry.artifactType = summary.artifactType;
    const pushed = { [PUSHED_AT]: new Date().toISOString() };

    await this.store.ensureRepository(name);
    // Under the repository's lock, so garbage collection cannot remove a blob between the check
    // that it exists and the index entry that makes it referenced.
    await this.store.withRepository(name, async (transaction) => {
      await assertReferencesExist(transaction, [...summary.blobs, ...summary.manifests]);
      const index = await transaction.readIndex();
      let manifests = [...index.manifests];
      if (reference.tag === undefined) {
        if (manifests.some((existing) => existing.digest === digest.value)) return;
        manifests.push({ ...entry, annotations: pushed });
      } else {
        const tag = reference.tag;
        const moved = manifests.find((existing) => existing.annotations?.[REF_NAME] === tag);
        if (moved && moved.digest !== digest.value && !mayMoveTag) throw new RegistryError('DENIED', { name, tag, action: 'update' });
        manifests = manifests.filter((existing) => existing.annotations?.[REF_NAME] !== tag && !(existing.digest === digest.value && existing.annotations?.[REF_NAME] === undefined));
        // A tag that moves leaves its old manifest reachable by digest, as an untagged entry.
        if (moved && moved.digest !== digest.value && !manifests.some((existing) => existing.digest === moved.digest)) manifests.push(untagged(moved));
        manifests.push({ ...entry, annotations: { [REF_NAME]: tag, ...pushed } });
      }
      await transaction.writeSmallBlob(digest, bytes);
      await transaction.writeIndex({ ...index, manifests });
    });
    this.catalog.remember(name, digest, bytes, factsFrom(summary, bytes.length));
    return { digest: digest.value, ...(summary.subject ? { subject: summary.subject.digest } : {}) };
  }

  /**
   * By tag: removes only the tag. By digest: removes the manifest and every tag that points to it,
   * unless `detectCollision` (zot's detectManifestCollision) asks to refuse when several tags do.
   */
  async delete(name: string, reference: Reference, { detectCollision }: { detectCollision: boolean }): Promise<void> {
    assertValidName(name);
    await this.catalog.resolve(name, reference.digest ?? reference.tag);
    await this.store.updateIndex(name, (index) => {
      if (reference.digest) {
        const tags = index.manifests.filter((entry) => entry.digest === reference.digest.value && entry.annotations?.[REF_NAME] !== undefined);
        if (detectCollision && tags.length > 1) throw new RegistryError('MANIFEST_CONFLICT', { digest: reference.digest.value, tags: tags.map((entry) => entry.annotations![REF_NAME]) });
        const before = index.manifests.length;
        index.manifests = index.manifests.filter((entry) => entry.digest !== reference.digest.value);
        if (index.manifests.length === before) throw new RegistryError('MANIFEST_UNKNOWN', { digest: reference.digest.value });
        return;
      }
      const tagged = index.manifests.find((entry) => entry.annotations?.[REF_NAME] === reference.tag);
      if (!tagged) throw new RegistryError('MANIFEST_UNKNOWN', { tag: reference.tag });
      index.manifests = index.manifests.filter((entry) => entry !== tagged);
      if (!index.manifests.some((entry) => entry.digest === tagged.digest)) index.manifests.push(untagged(tagged));
    });
  }
}

async function assertReferencesExist(transaction: RepositoryTransaction, digests: Digest[]): Promise<void> {
  const unique = [...new Map(digests.map((digest) => [digest.value, digest])).values()];
  const sizes = await Promise.all(unique.map((digest) => transaction.statBlob(digest)));
  const missing = unique.filter((_, i) => sizes[i] === undefined);
  if (missing.length > 0) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', { digests: missing.map((digest) => digest.value) });
}

function untagged(entry: Descriptor): Descriptor {
  const { annotations, ...rest } = entry;
  const { [REF_NAME]: _tag, ...others } = annotations ?? {};
  return Object.keys(others).length > 0 ? { ...rest, annotations: others } : rest;
}
