/** Signatures, SBOMs and attestations recognised by artifact type and cosign tag (src/browse/attachments.ts). */
import { describe, expect, it } from 'vitest';
import { attachmentsOf, classifyArtifact, cosignTagSubject } from '../../../src/browse/attachments.js';

const HEX = 'a'.repeat(64);

describe('attachments', () => {
  it('names the usual artifact types, and nothing else', () => {
    expect(classifyArtifact('application/vnd.dev.cosign.artifact.sig.v1+json')).toEqual({ kind: 'signature', label: 'Signed (cosign)' });
    expect(classifyArtifact('application/vnd.cncf.notary.signature')).toEqual({ kind: 'signature', label: 'Signed (notation)' });
    expect(classifyArtifact('application/spdx+json')).toEqual({ kind: 'sbom', label: 'SBOM (SPDX)' });
    expect(classifyArtifact('application/vnd.cyclonedx+json')).toEqual({ kind: 'sbom', label: 'SBOM (CycloneDX)' });
    expect(classifyArtifact('application/vnd.in-toto+json')).toEqual({ kind: 'attestation', label: 'Attestation (in-toto)' });
    expect(classifyArtifact('application/vnd.dev.sigstore.bundle.v0.3+json')).toEqual({ kind: 'attestation', label: 'Attestation (Sigstore bundle)' });
    for (const other of [undefined, '', 'application/json', 'constructor', '__proto__', 'toString']) expect(classifyArtifact(other)).toBeUndefined();
  });

  it("reads cosign's tag scheme only for a whole sha256 digest", () => {
    expect(cosignTagSubject(`sha256-${HEX}.sig`)).toBe(`sha256:${HEX}`);
    for (const tag of [`sha256-${HEX}.sig.bak`, `sha256-${HEX.slice(1)}.sig`, `sha512-${HEX}.sig`, `sha256-${HEX}.txt`, 'latest']) expect(cosignTagSubject(tag)).toBeUndefined();
  });

  it('lists each label once, referrers first, then cosign tags', () => {
    const digest = `sha256:${HEX}`;
    const referrers = [
      { digest: 'sha256:1', artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json' },
      { digest: 'sha256:2', artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json' },
      { digest: 'sha256:3', artifactType: 'application/spdx+json' },
      { digest: 'sha256:4' },
    ];
    const tags = new Set([`sha256-${HEX}.sig`, `sha256-${HEX}.att`]);
    expect(attachmentsOf(digest, referrers, (tag) => tags.has(tag))).toEqual([
      { kind: 'signature', label: 'Signed (cosign)', digest: 'sha256:1' },
      { kind: 'sbom', label: 'SBOM (SPDX)', digest: 'sha256:3' },
      { kind: 'attestation', label: 'Attestation (cosign)', tag: `sha256-${HEX}.att` },
    ]);
  });
});
