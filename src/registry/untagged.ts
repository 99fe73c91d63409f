/**
 * Which manifests of a repository are "untagged" in the sense a person means: no tag points to
 * them, they are not a platform manifest of a tagged index (nor of anything else a tag reaches),
 * and they are not a referrer (a signature, SBOM or attestation, which hangs off its subject and is
 * never tagged). What is left is what a moved or deleted tag left behind: content only a digest
 * still pulls. The web UI counts these and lets whoever may delete remove them.
 */
import type { Descriptor } from '../oci/manifest.js';
import { REF_NAME } from '../storage/store.js';
import type { ManifestFacts } from './manifest-catalog.js';

/** Deeper than any real index nests; a bound on the walk all the same. */
const NESTING_LIMIT = 8;

export interface Untagged {
  /** The untagged manifests a person counts: those not listed by another untagged index. */
  roots: string[];
  /** The roots and what they list that nothing else keeps: what deleting them removes. */
  doomed: string[];
  /** False when some tagged manifest or referrer could not be read: what it lists is unknown, so nothing may be deleted. */
  certain: boolean;
}

/**
 * Sorts the index's `entries` with the `facts` of each (undefined: its bytes could not be read). A
 * manifest whose facts are unknown is never doomed: it is counted, but it may list anything.
 */
export function findUntagged(entries: readonly Descriptor[], facts: (digest: string) => Pick<ManifestFacts, 'manifests' | 'subject'> | undefined): Untagged {
  const digests = [...new Set(entries.map((entry) => entry.digest))];
  const tagged = new Set(entries.filter((entry) => entry.annotations?.[REF_NAME] !== undefined).map((entry) => entry.digest));
  const kept = new Set<string>();
  let certain = true;
  let frontier = digests.filter((digest) => tagged.has(digest) || facts(digest)?.subject !== undefined);
  for (let depth = 0; frontier.length > 0 && depth <= NESTING_LIMIT; depth += 1) {
    const next: string[] = [];
    for (const digest of frontier) {
      if (kept.has(digest)) continue;
      kept.add(digest);
      const known = facts(digest);
      if (!known) certain = false;
      next.push(...(known?.manifests ?? []));
    }
    frontier = next;
  }
  const loose = digests.filter((digest) => !kept.has(digest));
  const listed = new Set(loose.flatMap((digest) => facts(digest)?.manifests ?? []));
  return {
    roots: loose.filter((digest) => !listed.has(digest)),
    doomed: loose.filter((digest) => facts(digest) !== undefined),
    certain,
  };
}
