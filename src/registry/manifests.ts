/**
 * Pushing, pulling and deleting manifests.
 * Spec: distribution-spec v1.1 "Pulling manifests", "Pushing Manifests", "Deleting Manifests".
 */
import { RegistryError } from '../oci/errors.js';
import { digestOf, parseDigest, type Digest } from '../oci/digest.js';
import { assertValidName, assertValidTag, isValidTag } from '../oci/names.js';
import { summarizeManifest, type Descriptor, type ManifestSummary, type Reference as Referenced } from '../oci/manifest.js';
import { IMAGE_CONFIG_TYPES } from '../oci/media-types.js';
import { PUSHED_AT, REF_NAME, type RepositoryTransaction, type Store } from '../storage/store.js';
import { assertManifestSchema } from './manifest-schemas.js';
import { factsFrom, type ManifestCatalog } from './manifest-catalog.js';
import type { Actor, ManifestWrite, ManifestWriteListener } from './manifest-writes.js';

/** The spec lets registries cap manifests; 4 MiB is what distribution and zot accept. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** An image config is read at push to check that it is a JSON object; a larger one is refused. */
export const MAX_IMAGE_CONFIG_BYTES = 8 * 1024 * 1024;

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
  private readonly listeners: ManifestWriteListener[] = [];

  /** Subscribes to durable writes (the events module does). */
  afterWrite(listener: ManifestWriteListener): void {
    this.listeners.push(listener);
  }

  private async announce(writes: ManifestWrite[]): Promise<void> {
    for (const listener of this.listeners) await listener(writes);
  }

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
  async put(name: string, reference: Reference, bytes: Buffer, contentType: string | undefined, { mayMoveTag, actor }: { mayMoveTag: boolean; actor?: Actor }): Promise<PushResult> {
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
    await this.assertImageConfig(name, summary);
    // Under the repository's lock, so garbage collection cannot remove a blob between the check
    // that it exists and the index entry that makes it referenced.
    let created = false;
    await this.store.withRepository(name, async (transaction) => {
      await assertReferencesHeld(transaction, summary.references);
      const index = await transaction.readIndex();
      let manifests = [...index.manifests];
      created = manifests.length === 0;
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
    const who = actor ? { actor } : {};
    await this.announce([
      ...(created ? [{ kind: 'repository-created' as const, name, ...who }] : []),
      { kind: 'image-updated', name, reference: reference.tag ?? digest.value, digest: digest.value, mediaType: summary.mediaType, manifest: bytes, ...who },
    ]);
    return { digest: digest.value, ...(summary.subject ? { subject: summary.subject.digest } : {}) };
  }

  /**
   * A config descriptor of an image-config media type must point at a JSON object: clients that
   * pull the image parse it, and fail on anything else. (Its existence and size are checked under
   * the lock with the other references; a config not held yet is left to that check.)
   */
  private async assertImageConfig(name: string, summary: ManifestSummary): Promise<void> {
    const config = summary.isIndex ? undefined : summary.references.find((reference) => reference.where === 'config');
    if (!config?.mediaType || !IMAGE_CONFIG_TYPES.has(config.mediaType)) return;
    const size = await this.store.statBlob(name, config.digest);
    if (size === undefined || size !== config.size) return;
    if (size > MAX_IMAGE_CONFIG_BYTES) throw invalidReference(config, `the image config is ${size} bytes; Berth accepts image configs of at most ${MAX_IMAGE_CONFIG_BYTES} bytes`);
    let document: unknown;
    try {
      document = JSON.parse((await this.store.readSmallBlob(name, config.digest)).toString('utf8'));
    } catch {
      document = undefined;
    }
    if (typeof document !== 'object' || document === null || Array.isArray(document)) throw invalidReference(config, `${config.mediaType} must be a JSON object; the blob is not`);
  }

  /**
   * By tag: removes only the tag. By digest: removes the manifest and every tag that points to it,
   * unless `detectCollision` (zot's detectManifestCollision) asks to refuse when several tags do.
   */
  async delete(name: string, reference: Reference, { detectCollision, actor }: { detectCollision: boolean; actor?: Actor }): Promise<void> {
    assertValidName(name);
    await this.catalog.resolve(name, reference.digest ?? reference.tag);
    const removed = await this.store.updateIndex(name, (index): Descriptor => {
      if (reference.digest) {
        const tags = index.manifests.filter((entry) => entry.digest === reference.digest.value && entry.annotations?.[REF_NAME] !== undefined);
        if (detectCollision && tags.length > 1) throw new RegistryError('MANIFEST_CONFLICT', { digest: reference.digest.value, tags: tags.map((entry) => entry.annotations![REF_NAME]) });
        const entry = index.manifests.find((item) => item.digest === reference.digest.value);
        if (!entry) throw new RegistryError('MANIFEST_UNKNOWN', { digest: reference.digest.value });
        index.manifests = index.manifests.filter((item) => item.digest !== reference.digest.value);
        return entry;
      }
      const tagged = index.manifests.find((entry) => entry.annotations?.[REF_NAME] === reference.tag);
      if (!tagged) throw new RegistryError('MANIFEST_UNKNOWN', { tag: reference.tag });
      index.manifests = index.manifests.filter((entry) => entry !== tagged);
      if (!index.manifests.some((entry) => entry.digest === tagged.digest)) index.manifests.push(untagged(tagged));
      return tagged;
    });
    await this.announce([{ kind: 'image-deleted', name, reference: reference.tag ?? reference.digest.value, digest: removed.digest, mediaType: removed.mediaType, ...(actor ? { actor } : {}) }]);
  }
}

function invalidReference(reference: Referenced, reason: string): RegistryError {
  return new RegistryError('MANIFEST_INVALID', { descriptor: reference.where, digest: reference.digest.value, reason: `${reference.where}: ${reason}` });
}

/**
 * Every descriptor the manifest depends on names content the repository holds, with the size the
 * descriptor claims: a client that trusts the size would otherwise fail (or stop short) on pull.
 */
async function assertReferencesHeld(transaction: RepositoryTransaction, references: Referenced[]): Promise<void> {
  const unique = [...new Map(references.map((reference) => [reference.digest.value, reference.digest])).values()];
  const sizes = new Map(await Promise.all(unique.map(async (digest) => [digest.value, await transaction.statBlob(digest)] as const)));
  const missing = unique.filter((digest) => sizes.get(digest.value) === undefined);
  if (missing.length > 0) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', { digests: missing.map((digest) => digest.value) });
  for (const reference of references) {
    const stored = sizes.get(reference.digest.value)!;
    if (stored !== reference.size) throw invalidReference(reference, `size is ${reference.size} but the stored content of ${reference.digest.value} has ${stored} bytes`);
  }
}

function untagged(entry: Descriptor): Descriptor {
  const { annotations, ...rest } = entry;
  const { [REF_NAME]: _tag, ...others } = annotations ?? {};
  return Object.keys(others).length > 0 ? { ...rest, annotations: others } : rest;
}
