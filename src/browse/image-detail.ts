/**
 * The image page's answer (one manifest or index in detail), composed from what one version of the
 * repository's index says of its digest (`ImageInputs`: from the view computed in memory, or from
 * the view saved for that version, image-source.ts) and the manifest, its config and its referrers'
 * manifests, read through the registry's repository-scoped catalog (`ImageReads`).
 */
import { RegistryError } from '../oci/errors.js';
import type { Descriptor } from '../oci/manifest.js';
import { PUSHED_AT, REF_NAME } from '../storage/store.js';
import { attachmentsOf } from './attachments.js';
import { pulledPlatform, totalSize, type EntryFacts } from './entry-facts.js';
import { pushedByOf, type ImageDetail } from './insight-types.js';
import { layerHistory, type BlobInsight, type ChildInsight, type ConfigInsight, type ManifestInsight } from './manifest-insight.js';
import { newestPush } from './repository-figures.js';

export interface ImageInputs {
  /** The entry shown: the tag's (its last), or the digest's. */
  entry: Descriptor;
  /** Every entry of the index naming its digest. */
  sameDigest: Descriptor[];
  /** Its facts, when held (else the manifest's own size is its total). */
  facts: EntryFacts | undefined;
  childFacts(child: ChildInsight): Promise<EntryFacts | undefined>;
  referrers: Array<{ entry: Descriptor; artifactType?: string }>;
  parents: string[];
  hasTag(tag: string): boolean;
}

export interface ImageReads {
  /** A manifest as the repository holds it, read as its index entry's media type (else `describedAs`). */
  manifest(digest: string, describedAs: string): Promise<ManifestInsight | undefined>;
  config(descriptor: BlobInsight): Promise<ConfigInsight | undefined>;
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The detail of `inputs.entry` in `name`, asked by tag (`byTag`) or by digest. */
export async function composeImage(name: string, byTag: boolean, inputs: ImageInputs, reads: ImageReads): Promise<ImageDetail> {
  const { entry, facts, sameDigest } = inputs;
  const insight = await reads.manifest(entry.digest, entry.mediaType);
  if (!insight) throw new RegistryError('MANIFEST_UNKNOWN', { digest: entry.digest });
  const children = await Promise.all(
    insight.children.map(async (child) => {
      const childFacts = await inputs.childFacts(child);
      return { ...child, ...(childFacts ? { totalSize: totalSize(childFacts) } : {}) };
    }),
  );
  const pulledChild = pulledPlatform(children);
  const pulled = pulledChild?.platform && pulledChild.totalSize !== undefined ? { platform: pulledChild.platform, size: pulledChild.totalSize } : undefined;
  const details = insight.kind === 'image' && insight.config ? await reads.config(insight.config) : undefined;
  const history = details?.history ?? [];
  const perLayer = layerHistory(insight.layers, history);
  // Referrers of one manifest are few (signatures, SBOMs): each is read for its annotations.
  const referrers = await Promise.all(
    inputs.referrers.map(async ({ entry: candidate, artifactType: known }) => {
      const found = await reads.manifest(candidate.digest, candidate.mediaType);
      return {
        digest: candidate.digest,
        mediaType: found?.mediaType ?? candidate.mediaType,
        ...((found?.artifactType ?? known) ? { artifactType: found?.artifactType ?? known } : {}),
        size: found?.size ?? candidate.size,
        annotations: found?.annotations ?? {},
        ...(candidate.annotations?.[PUSHED_AT] ? { pushed: candidate.annotations[PUSHED_AT] } : {}),
      };
    }),
  );
  const attachments = attachmentsOf(entry.digest, referrers, (tag) => inputs.hasTag(tag));
  const tags = sameDigest.filter((candidate) => candidate.annotations?.[REF_NAME] !== undefined).map((candidate) => candidate.annotations![REF_NAME]!);
  const pushed = newestPush(sameDigest)?.toISOString();
  const pusher = byTag
    ? entry
    : sameDigest.reduce<Descriptor | undefined>((newest, candidate) => ((candidate.annotations?.[PUSHED_AT] ?? '') >= (newest?.annotations?.[PUSHED_AT] ?? '') ? candidate : newest), undefined);
  const pushedBy = pushedByOf(pusher);
  return {
    repository: name,
    digest: entry.digest,
    mediaType: insight.mediaType,
    kind: insight.kind,
    size: insight.size,
    totalSize: facts ? totalSize(facts) : insight.size,
    tags: [...new Set(tags)].sort(compare),
    ...(pushed ? { pushed } : {}),
    ...(pushedBy ? { pushedBy } : {}),
    ...(insight.artifactType ? { artifactType: insight.artifactType } : {}),
    ...(insight.subject ? { subject: insight.subject } : {}),
    annotations: insight.annotations,
    children,
    ...(pulled ? { pulled } : {}),
    ...(insight.config ? { config: { ...insight.config, ...(details ? { details } : {}) } } : {}),
    layers: insight.layers.map((layer, i) => ({ ...layer, ...(perLayer[i] ? { history: perLayer[i] } : {}) })),
    history,
    referrers,
    parents: inputs.parents,
    attachments,
  };
}
