/**
 * Signatures, SBOMs and attestations attached to a manifest, recognised by the artifact types the
 * usual tools write: as OCI 1.1 referrers (a `subject`), or as cosign's older tag scheme, a tag
 * `sha256-<hex>.sig` / `.att` / `.sbom` beside the image. Presence only: nothing here verifies a
 * signature, so the UI says "not verified" wherever it shows one.
 */

export type AttachmentKind = 'signature' | 'sbom' | 'attestation';

export interface Attachment {
  kind: AttachmentKind;
  /** `Signed (cosign)`, `SBOM (SPDX)`, ... */
  label: string;
  /** The referrer's digest, or the cosign tag, that carries it. */
  digest?: string;
  tag?: string;
}

/** What each artifact type is; the types cosign, notation, syft/trivy and in-toto write. A Map: a pushed type such as `constructor` must find nothing. */
const ARTIFACT_TYPES = new Map<string, Pick<Attachment, 'kind' | 'label'>>(
  Object.entries({
    'application/vnd.dev.cosign.artifact.sig.v1+json': { kind: 'signature', label: 'Signed (cosign)' },
    'application/vnd.dev.cosign.simplesigning.v1+json': { kind: 'signature', label: 'Signed (cosign)' },
    'application/vnd.cncf.notary.signature': { kind: 'signature', label: 'Signed (notation)' },
    'application/vnd.dev.sigstore.bundle.v0.3+json': { kind: 'attestation', label: 'Attestation (Sigstore bundle)' },
    'application/vnd.dev.sigstore.bundle+json;version=0.3': { kind: 'attestation', label: 'Attestation (Sigstore bundle)' },
    'application/vnd.in-toto+json': { kind: 'attestation', label: 'Attestation (in-toto)' },
    'application/vnd.dsse.envelope.v1+json': { kind: 'attestation', label: 'Attestation (in-toto)' },
    'application/spdx+json': { kind: 'sbom', label: 'SBOM (SPDX)' },
    'text/spdx': { kind: 'sbom', label: 'SBOM (SPDX)' },
    'application/vnd.cyclonedx+json': { kind: 'sbom', label: 'SBOM (CycloneDX)' },
    'application/vnd.cyclonedx+xml': { kind: 'sbom', label: 'SBOM (CycloneDX)' },
  } satisfies Record<string, Pick<Attachment, 'kind' | 'label'>>),
);

const COSIGN_TAG_KINDS: Record<string, Pick<Attachment, 'kind' | 'label'>> = {
  sig: { kind: 'signature', label: 'Signed (cosign)' },
  att: { kind: 'attestation', label: 'Attestation (cosign)' },
  sbom: { kind: 'sbom', label: 'SBOM (cosign)' },
};
const COSIGN_TAG = /^sha256-([0-9a-f]{64})\.(sig|att|sbom)$/;

/** What an artifact type says it is, when it is one of the usual ones. */
export function classifyArtifact(artifactType: string | undefined): Pick<Attachment, 'kind' | 'label'> | undefined {
  return artifactType === undefined ? undefined : ARTIFACT_TYPES.get(artifactType.toLowerCase());
}

/** The subject digest a cosign tag-scheme tag belongs to (`sha256-<hex>.sig` → `sha256:<hex>`). */
export function cosignTagSubject(tag: string): string | undefined {
  const match = COSIGN_TAG.exec(tag);
  return match ? `sha256:${match[1]}` : undefined;
}

/**
 * What is attached to `digest`: its referrers of a known artifact type, and the cosign tags that
 * name it (`hasTag` asks the repository's tags). One entry per label, the first carrier kept.
 */
export function attachmentsOf(digest: string, referrers: ReadonlyArray<{ digest: string; artifactType?: string }>, hasTag: (tag: string) => boolean): Attachment[] {
  const found = new Map<string, Attachment>();
  for (const referrer of referrers) {
    const known = classifyArtifact(referrer.artifactType);
    if (known && !found.has(known.label)) found.set(known.label, { ...known, digest: referrer.digest });
  }
  if (digest.startsWith('sha256:')) {
    for (const [suffix, known] of Object.entries(COSIGN_TAG_KINDS)) {
      const tag = `sha256-${digest.slice('sha256:'.length)}.${suffix}`;
      if (hasTag(tag) && !found.has(known.label)) found.set(known.label, { ...known, tag });
    }
  }
  return [...found.values()];
}
