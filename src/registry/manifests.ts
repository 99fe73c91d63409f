/**
 * Pushing, pulling and deleting manifests.
 * Spec: distribution-spec v1.1 "Pulling manifests", "Pushing Manifests", "Deleting Manifests".
 */
import { RegistryError } from '../oci/errors.js';
import { digestOf, parseDigest, type Digest } from '../oci/digest.js';
import { assertValidName, assertValidTag, isValidTag } from '../oci/names.js';
import { summarizeManifest, type Descriptor, type ManifestSummary, type Reference as Referenced } from '../oci/manifest.js';
import { IMAGE_CONFIG_TYPES } from '../oci/media-types.js';
import { PUSHED_AT, PUSHED_BY, PUSHED_VIA, REF_NAME, type RepositoryTransaction, type Store } from '../storage/store.js';
import { assertManifestSchema } from './manifest-schemas.js';
import { factsFrom, scopedKey, type ManifestCatalog } from './manifest-catalog.js';
import { Lru } from './lru.js';
import type { Actor, ManifestWrite, ManifestWriteListener } from './manifest-writes.js';
import { entryKey } from '../storage/live-index.js';
import { findUntagged } from './untagged.js';

/** How often a cleanup looks at the index again when a push changed it in between. */
const CLEANUP_ATTEMPTS = 3;

/** Thrown inside a cleanup's `apply` when the index is not the one it looked at (its edits are undone). */
class IndexMoved extends Error {}

/** The spec lets registries cap manifests; 4 MiB is what distribution and zot accept. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** An image config is read at push to check that it is a JSON object; a larger one is refused. */
export const MAX_IMAGE_CONFIG_BYTES = 8 * 1024 * 1024;
const CHECKED_CONFIGS = 10_000;

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
  /** Image configs found to be JSON objects, by repository and digest (content never changes). */
  private readonly checkedConfigs = new Lru<string, number>(CHECKED_CONFIGS);
  private readonly listeners: ManifestWriteListener[] = [];

  /** Subscribes to durable writes (the events module does). */
  afterWrite(listener: ManifestWriteListener): void {
    this.listeners.push(listener);
  }

  /**
   * Tells every listener, each called at once (from a `committed` hook, under the repository's
   * lock, so each takes its place in line in the order of the writes); the promise is theirs to keep.
   */
  private announce(writes: ManifestWrite[]): Promise<void> {
    const told = Promise.all(this.listeners.map(async (listener) => listener(writes))).then(() => undefined);
    // Awaited by the caller once the index change resolves; until then no rejection goes unheard.
    told.catch(() => undefined);
    return told;
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
    // Who pushed goes with the entry (the UI shows it); an anonymous push records no one.
    const pushed = {
      [PUSHED_AT]: new Date().toISOString(),
      ...(actor?.username ? { [PUSHED_BY]: actor.username, ...(actor.method ? { [PUSHED_VIA]: actor.method } : {}) } : {}),
    };

    await this.store.ensureRepository(name);
    await this.assertImageConfig(name, summary);
    const who = actor ? { actor } : {};
    let announced: Promise<void> | undefined;
    await this.store.changeIndex(name, {
      // Under the repository's lock, so garbage collection cannot remove a blob between the check
      // that it exists and the index entry that makes it referenced.
      prepare: async (transaction) => {
        await assertReferencesHeld(transaction, summary.references);
        await transaction.writeSmallBlob(digest, bytes);
      },
      // A refused tag move leaves the bytes written above unreferenced, as a blob upload by the
      // same caller would be; garbage collection takes them after gcDelay.
      apply: (index) => {
        const created = index.size === 0;
        if (reference.tag === undefined) {
          if (!index.holds(digest.value)) index.put({ ...entry, annotations: pushed });
          return created;
        }
        const tag = reference.tag;
        const moved = index.tagged(tag);
        if (!mayMoveTag) assertMayTag(name, tag, digest, moved);
        // The manifest's untagged entry, if any, gives way to the tagged one.
        index.remove(entry);
        if (moved) {
          index.remove(moved);
          // A tag that moves leaves its old manifest reachable by digest, as an untagged entry.
          if (moved.digest !== digest.value && !index.holds(moved.digest)) index.put(untagged(moved));
        }
        index.put({ ...entry, annotations: { [REF_NAME]: tag, ...pushed } });
        return created;
      },
      // Durable now; in line with this repository's other writes, even those of other replicas.
      committed: (created) => {
        announced = this.announce([
          ...(created ? [{ kind: 'repository-created' as const, name, ...who }] : []),
          { kind: 'image-updated', name, reference: reference.tag ?? digest.value, digest: digest.value, mediaType: summary.mediaType, manifest: bytes, ...who },
        ]);
      },
    });
    this.catalog.remember(name, digest, bytes, factsFrom(summary, bytes.length));
    await announced;
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
    // Every tag of an image points at the same config: read and parse it once.
    const key = scopedKey(name, config.digest.value);
    if (this.checkedConfigs.get(key) === config.size) return;
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
    this.checkedConfigs.set(key, size);
  }

  /**
   * By tag: removes only the tag. By digest: removes the manifest and every tag that points to it,
   * unless `detectCollision` (zot's detectManifestCollision) asks to refuse when several tags do.
   */
  async delete(name: string, reference: Reference, { detectCollision, actor }: { detectCollision: boolean; actor?: Actor }): Promise<void> {
    assertValidName(name);
    await this.catalog.resolve(name, reference.digest ?? reference.tag);
    let announced: Promise<void> | undefined;
    await this.store.changeIndex(name, {
      apply: (index): Descriptor => {
        if (reference.digest) {
          const entries = index.withDigest(reference.digest.value);
          const tags = entries.filter((entry) => entry.annotations?.[REF_NAME] !== undefined);
          if (detectCollision && tags.length > 1) throw new RegistryError('MANIFEST_CONFLICT', { digest: reference.digest.value, tags: tags.map((entry) => entry.annotations![REF_NAME]) });
          if (entries.length === 0) throw new RegistryError('MANIFEST_UNKNOWN', { digest: reference.digest.value });
          for (const entry of entries) index.remove(entry);
          return entries[0]!;
        }
        const tagged = index.tagged(reference.tag);
        if (!tagged) throw new RegistryError('MANIFEST_UNKNOWN', { tag: reference.tag });
        index.remove(tagged);
        if (!index.holds(tagged.digest)) index.put(untagged(tagged));
        return tagged;
      },
      committed: (removed) => {
        announced = this.announce([
          { kind: 'image-deleted', name, reference: reference.tag ?? reference.digest.value, digest: removed.digest, mediaType: removed.mediaType, ...(actor ? { actor } : {}) },
        ]);
      },
    });
    await announced;
  }

  /**
   * Removes the repository's untagged manifests (untagged.ts: not tagged, not listed by a tagged
   * index, not a referrer) in one index change; with `everything`, every manifest of a repository
   * that has no tag left (deleting it from the web UI). Blobs stay for garbage collection. What to
   * remove is decided from the index and the catalog's facts, then applied only to that same index:
   * if a push changed it in between, it is looked at again. Returns the digests removed.
   */
  async deleteUntagged(name: string, { everything = false, actor }: { everything?: boolean; actor?: Actor }): Promise<string[]> {
    assertValidName(name);
    for (let attempt = 0; attempt < CLEANUP_ATTEMPTS; attempt += 1) {
      const { manifests } = await this.store.readIndex(name);
      const untaggedOnly = manifests.every((entry) => entry.annotations?.[REF_NAME] === undefined);
      if (everything && !untaggedOnly) throw new RegistryError('CLEANUP_REFUSED', { name, reason: 'the repository still has tags: delete them first' });
      const unique = [...new Map(manifests.map((entry) => [entry.digest, entry])).values()];
      let doomed: Descriptor[];
      if (everything) doomed = unique;
      else {
        const facts = new Map(await Promise.all(unique.map(async (entry) => [entry.digest, await this.catalog.factsOf(name, entry).catch(() => undefined)] as const)));
        const found = findUntagged(manifests, (digest) => facts.get(digest));
        if (!found.certain) throw new RegistryError('CLEANUP_REFUSED', { name, reason: 'a tagged manifest could not be read, so what it lists is unknown' });
        const gone = new Set(found.doomed);
        doomed = unique.filter((entry) => gone.has(entry.digest));
      }
      if (doomed.length === 0) return [];
      // The editor holds one entry per key (a tag, or the digest of an untagged entry).
      const keys = new Set(manifests.map(entryKey)).size;
      let announced: Promise<void> | undefined;
      try {
        await this.store.changeIndex(name, {
          apply: (index) => {
            if (index.size !== keys) throw new IndexMoved();
            // An untagged entry's key is its digest; a digest still held afterwards has a tag now.
            for (const entry of doomed) index.remove(untagged(entry));
            if (doomed.some((entry) => index.holds(entry.digest))) throw new IndexMoved();
          },
          committed: () => {
            announced = this.announce(doomed.map((entry) => ({ kind: 'image-deleted', name, reference: entry.digest, digest: entry.digest, mediaType: entry.mediaType, ...(actor ? { actor } : {}) })));
          },
        });
      } catch (error) {
        if (error instanceof IndexMoved) continue;
        throw error;
      }
      await announced;
      return doomed.map((entry) => entry.digest);
    }
    throw new RegistryError('UNAVAILABLE', 'the repository kept changing while its untagged manifests were removed: try again');
  }

  /**
   * Deletes a repository that has no tag left: every manifest (`deleteUntagged` with everything,
   * each announced), then the repository itself with its blobs (Store.removeRepository), so it is
   * no longer listed. `gone` is false when a push landed in between: the repository stays, holding
   * what was pushed. Returns the digests removed.
   */
  async deleteRepository(name: string, { actor }: { actor?: Actor }): Promise<{ removed: string[]; gone: boolean }> {
    const removed = await this.deleteUntagged(name, { everything: true, ...(actor ? { actor } : {}) });
    return { removed, gone: await this.store.removeRepository(name) };
  }
}

/** Pointing an existing tag at other content needs `update` (zot's accessControl; fails closed). */
function assertMayTag(name: string, tag: string, digest: Digest, current: Descriptor | undefined): void {
  if (current && current.digest !== digest.value) throw new RegistryError('DENIED', { name, tag, action: 'update' });
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
