/** Which manifests count as untagged, and which a cleanup may remove (src/registry/untagged.ts). */
import { describe, expect, it } from 'vitest';
import { findUntagged } from '../../../src/registry/untagged.js';
import type { Descriptor } from '../../../src/oci/manifest.js';

const REF = 'org.opencontainers.image.ref.name';
const entry = (digest: string, tag?: string): Descriptor => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 1, ...(tag ? { annotations: { [REF]: tag } } : {}) });

describe('findUntagged', () => {
  const facts: Record<string, { manifests: string[]; subject?: string }> = {
    index: { manifests: ['amd', 'arm'] },
    amd: { manifests: [] },
    arm: { manifests: [] },
    sig: { manifests: [], subject: 'index' },
    moved: { manifests: [] },
    oldIndex: { manifests: ['oldAmd', 'oldArm'] },
    oldAmd: { manifests: [] },
    oldArm: { manifests: [] },
  };
  const entries = [entry('index', 'multi'), entry('amd'), entry('arm'), entry('sig'), entry('moved'), entry('oldIndex'), entry('oldAmd'), entry('oldArm')];

  it('counts what no tag reaches and no referrer is, an untagged index once with its platforms', () => {
    const found = findUntagged(entries, (digest) => facts[digest]);
    expect(found).toEqual({ roots: ['moved', 'oldIndex'], doomed: ['moved', 'oldIndex', 'oldAmd', 'oldArm'], certain: true });
  });

  it('keeps a manifest also listed by a tagged index, and one tagged under another name', () => {
    const found = findUntagged([...entries, entry('oldAmd', 'pinned')], (digest) => facts[digest]);
    expect(found.doomed).toEqual(['moved', 'oldIndex', 'oldArm']);
  });

  it('is uncertain when a tagged manifest cannot be read, and never dooms an unreadable one', () => {
    const found = findUntagged([entry('index', 'multi'), entry('amd'), entry('lost')], (digest) => (digest === 'index' || digest === 'lost' ? undefined : facts[digest]));
    expect(found.certain).toBe(false);
    expect(found.doomed).toEqual(['amd']);
    expect(found.roots).toEqual(['amd', 'lost']);
  });
});
