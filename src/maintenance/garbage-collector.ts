/**
 * Online garbage collection, one repository at a time under its lock (zot pkg/storage/gc):
 * 1. tag retention: with keepTags rules for the repository, tags no rule keeps are removed;
 * 2. untagged manifests no index in the repository references, and referrers whose subject is gone
 *    (when deleteReferrers), once older than the retention delay, until nothing more goes;
 * 3. blobs no remaining manifest references, once older than gcDelay;
 * 4. upload sessions older than gcDelay.
 * The age rules are what make it safe online: a blob pushed just before its manifest is younger
 * than gcDelay, and a manifest push checks its blobs under the same lock.
 */
import { parseDigest } from '../oci/digest.js';
import { isErrorKey } from '../oci/errors.js';
import type { Descriptor } from '../oci/manifest.js';
import type { RetentionConfig } from '../config/config.js';
import { PUSHED_AT, REF_NAME, type OciIndexFile, type RepositoryTransaction, type Store } from '../storage/store.js';
import type { ManifestCatalog, ManifestFacts } from '../registry/manifest-catalog.js';
import { tagsToRemove, untaggedKept } from './retention.js';

export interface RepositoryCollection {
  repository: string;
  tags: string[];
  manifests: string[];
  blobs: Array<{ digest: string; size: number }>;
  uploads: string[];
  /** Bytes the disk gets back: a blob hard-linked elsewhere (dedupe) frees nothing. */
  bytesFreed: number;
}

export interface Collection {
  dryRun: boolean;
  repositories: RepositoryCollection[];
  bytesFreed: number;
}

export interface GcOptions {
  gcDelayMs: number;
  retention: RetentionConfig;
}

type Entry = Descriptor & { facts?: ManifestFacts | undefined };

export class GarbageCollector {
  constructor(
    private readonly store: Store,
    private readonly catalog: ManifestCatalog,
    private readonly options: () => GcOptions,
  ) {}

  async collect(now = Date.now()): Promise<Collection> {
    const { retention } = this.options();
    const repositories: RepositoryCollection[] = [];
    for (const name of await this.store.listRepositories()) {
      try {
        repositories.push(await this.collectRepository(name, now));
      } catch (error) {
        // Deleted since the list was read: nothing left to collect.
        if (!isErrorKey(error, 'NAME_UNKNOWN')) throw error;
      }
    }
    return { dryRun: retention.dryRun, repositories, bytesFreed: repositories.reduce((sum, item) => sum + item.bytesFreed, 0) };
  }

  collectRepository(repository: string, now = Date.now()): Promise<RepositoryCollection> {
    const { gcDelayMs, retention } = this.options();
    const policy = retention.policies.find((candidate) => candidate.matches(repository));
    const dryRun = retention.dryRun;
    return this.store.withRepository(repository, async (transaction) => {
      const report: RepositoryCollection = { repository, tags: [], manifests: [], blobs: [], uploads: [], bytesFreed: 0 };
      const index = await transaction.readIndex();
      const blobFiles = await transaction.listBlobs();
      const blobTimes = new Map(blobFiles.map((file) => [file.digest.value, file.modifiedMs]));
      const pushedAt = (entry: Descriptor) => Date.parse(entry.annotations?.[PUSHED_AT] ?? '') || blobTimes.get(entry.digest) || now;

      let entries: Entry[] = await Promise.all(index.manifests.map(async (entry) => ({ ...entry, facts: await this.catalog.factsOf(repository, entry).catch(() => undefined) })));
      // An entry whose manifest bytes are gone can never be served: drop it (zot does too).
      const dangling = entries.filter((entry) => !blobTimes.has(entry.digest));
      entries = entries.filter((entry) => blobTimes.has(entry.digest));
      report.manifests.push(...dangling.map((entry) => entry.digest));

      if (policy && policy.keepTags.length > 0) {
        const doomed = new Set(tagsToRemove(entries, policy.keepTags, pushedAt, now));
        report.tags.push(...doomed);
        // A manifest that loses its last tag stays, untagged: the untagged rules below decide it.
        const survivors = entries.filter((entry) => !doomed.has(entry.annotations?.[REF_NAME] ?? ''));
        const orphaned = new Map<string, Entry>();
        for (const entry of entries) {
          if (!doomed.has(entry.annotations?.[REF_NAME] ?? '') || survivors.some((other) => other.digest === entry.digest)) continue;
          const { [REF_NAME]: _tag, ...rest } = entry.annotations ?? {};
          orphaned.set(entry.digest, { ...entry, annotations: rest });
        }
        entries = [...survivors, ...orphaned.values()];
      }

      const deleteUntagged = policy?.deleteUntagged ?? true;
      for (let changed = true; changed;) {
        changed = false;
        const present = new Set(entries.map((entry) => entry.digest));
        const children = new Set(entries.flatMap((entry) => entry.facts?.manifests ?? []));
        const remove = entries.filter((entry) => {
          if (entry.annotations?.[REF_NAME] !== undefined || children.has(entry.digest)) return false;
          if (now - pushedAt(entry) < retention.delayMs) return false;
          const subject = entry.facts?.subject;
          if (subject !== undefined) return !present.has(subject) && (policy?.deleteReferrers ?? false);
          return deleteUntagged && !untaggedKept(entry, policy?.keepUntagged, pushedAt, now, entries);
        });
        if (remove.length > 0) {
          changed = true;
          report.manifests.push(...remove.map((entry) => entry.digest));
          entries = entries.filter((entry) => !remove.includes(entry));
        }
      }

      if (!dryRun && (report.tags.length > 0 || report.manifests.length > 0)) {
        await transaction.writeIndex({ ...index, manifests: entries.map(({ facts: _facts, ...entry }) => entry) } satisfies OciIndexFile);
      }
      await this.sweepBlobs(transaction, entries, blobFiles, now - gcDelayMs, dryRun, report);
      for (const upload of await transaction.listUploads()) {
        if (upload.modifiedMs > now - gcDelayMs) continue;
        report.uploads.push(upload.id);
        if (!dryRun) await transaction.deleteUpload(upload.id);
      }
      return report;
    });
  }

  private async sweepBlobs(
    transaction: RepositoryTransaction,
    entries: Entry[],
    blobFiles: Awaited<ReturnType<RepositoryTransaction['listBlobs']>>,
    olderThan: number,
    dryRun: boolean,
    report: RepositoryCollection,
  ): Promise<void> {
    const referenced = new Set(entries.flatMap((entry) => [entry.digest, ...(entry.facts?.blobs ?? []), ...(entry.facts?.manifests ?? [])]));
    // A manifest whose facts could not be read may reference anything: keep every blob then.
    if (entries.some((entry) => entry.facts === undefined)) return;
    for (const file of blobFiles) {
      if (referenced.has(file.digest.value) || file.modifiedMs > olderThan) continue;
      report.blobs.push({ digest: file.digest.value, size: file.size });
      if (file.links === 1) report.bytesFreed += file.size;
      if (!dryRun) await transaction.deleteBlob(parseDigest(file.digest.value)!);
    }
  }
}
