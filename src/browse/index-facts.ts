/**
 * What a repository page needs to know about an index version beyond its entries: each subject's
 * referrers (for the signature and SBOM badges), how many manifests are untagged (untagged.ts),
 * and its tags as a set (cosign's tag-scheme signatures). Each is computed once per index version
 * (the store hands out one frozen object per version, so a WeakMap keyed by it forgets old ones),
 * from the manifests as the read model parses them.
 */
import { findUntagged } from '../registry/untagged.js';
import { REF_NAME, type OciIndexFile } from '../storage/store.js';
import type { Descriptor } from '../oci/manifest.js';
import type { ChildInsight, ManifestInsight } from './manifest-insight.js';

export type ReferrerList = Array<{ digest: string; artifactType?: string }>;
type ReadManifest = (name: string, digest: string, mediaType: string) => Promise<ManifestInsight | undefined>;

export class IndexFacts {
  private readonly subjects = new WeakMap<OciIndexFile, Promise<Map<string, ReferrerList>>>();
  private readonly untaggedCounts = new WeakMap<OciIndexFile, Promise<number>>();
  private readonly tagSets = new WeakMap<OciIndexFile, Set<string>>();

  /** `read` reads a manifest of the repository as the read model does (repository-scoped, cached). */
  constructor(private readonly read: ReadManifest) {}

  /** Each subject's referrers in the index: digest and artifact type. */
  referrersBySubject(name: string, index: OciIndexFile): Promise<Map<string, ReferrerList>> {
    return once(this.subjects, index, async () => {
      const bySubject = new Map<string, ReferrerList>();
      for (const { entry, insight } of await this.readAll(name, index)) {
        if (!insight?.subject) continue;
        const list = bySubject.get(insight.subject) ?? [];
        list.push({ digest: entry.digest, ...(insight.artifactType ? { artifactType: insight.artifactType } : {}) });
        bySubject.set(insight.subject, list);
      }
      return bySubject;
    });
  }

  /** How many untagged manifests the index holds (untagged.ts: the roots a person counts). */
  untagged(name: string, index: OciIndexFile): Promise<number> {
    return once(this.untaggedCounts, index, async () => {
      const lists = new Map(
        (await this.readAll(name, index)).map(({ entry, insight }) => [entry.digest, insight && { manifests: insight.children.map((child) => child.digest), subject: insight.subject }]),
      );
      return findUntagged(index.manifests, (digest) => lists.get(digest)).roots.length;
    });
  }

  tagSet(index: OciIndexFile): Set<string> {
    let tags = this.tagSets.get(index);
    if (!tags) {
      tags = new Set(index.manifests.flatMap((entry) => (entry.annotations?.[REF_NAME] !== undefined ? [entry.annotations[REF_NAME]] : [])));
      this.tagSets.set(index, tags);
    }
    return tags;
  }

  private async readAll(name: string, index: OciIndexFile): Promise<Array<{ entry: Descriptor; insight: ManifestInsight | undefined }>> {
    const entries = [...new Map(index.manifests.map((entry) => [entry.digest, entry])).values()];
    const insights = await Promise.all(entries.map((entry) => this.read(name, entry.digest, entry.mediaType)));
    return entries.map((entry, i) => ({ entry, insight: insights[i] }));
  }
}

/** `compute` once per index version; a failure is forgotten, so the next page tries again. */
function once<T>(cache: WeakMap<OciIndexFile, Promise<T>>, index: OciIndexFile, compute: () => Promise<T>): Promise<T> {
  let value = cache.get(index);
  if (!value) {
    value = compute();
    cache.set(index, value);
    value.catch(() => cache.delete(index));
  }
  return value;
}

/**
 * The child of an index that a pull on linux/amd64 gets, else the first with a real platform
 * (buildx lists its attestations as platform unknown/unknown).
 */
export function pulledPlatform<C extends ChildInsight>(children: readonly C[]): C | undefined {
  const real = children.filter((child) => child.platform && child.platform.os !== 'unknown');
  return real.find((child) => child.platform!.os === 'linux' && child.platform!.architecture === 'amd64') ?? real[0];
}
