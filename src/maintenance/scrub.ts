/**
 * Scrub (zot's extension and `zot scrub`): re-reads every manifest, config and layer of every image
 * and checks digest and size against what references them. It reports, it never repairs or deletes.
 */
import { createHash } from 'node:crypto';
import { parseDigest, type Digest } from '../oci/digest.js';
import { isErrorKey } from '../oci/errors.js';
import { summarizeManifest } from '../oci/manifest.js';
import { REF_NAME, type Store } from '../storage/store.js';

export interface ScrubResult {
  repository: string;
  /** The tag, or the digest of an untagged manifest. */
  reference: string;
  status: 'ok' | 'affected';
  reason?: string;
}

const BUFFER = 1024 * 1024;

interface Checked {
  ok: boolean;
  reason?: string;
}

export class Scrubber {
  constructor(private readonly store: Store) {}

  async scrub(): Promise<ScrubResult[]> {
    const results: ScrubResult[] = [];
    for (const repository of await this.store.listRepositories()) {
      try {
        results.push(...(await this.scrubRepository(repository)));
      } catch (error) {
        // Deleted since the list was read: nothing left to check.
        if (!isErrorKey(error, 'NAME_UNKNOWN')) throw error;
      }
    }
    return results;
  }

  async scrubRepository(repository: string): Promise<ScrubResult[]> {
    const index = await this.store.readIndex(repository);
    const checked = new Map<string, Promise<Checked>>();
    const buffer = Buffer.allocUnsafe(BUFFER);
    /** Verifies a blob once per pass: its bytes hash to its digest and it has the expected size. */
    const verify = (digest: Digest, size: number | undefined): Promise<Checked> => {
      const key = `${digest.value}:${size ?? ''}`;
      let result = checked.get(key);
      if (!result) {
        result = this.verifyBlob(repository, digest, size, buffer);
        checked.set(key, result);
      }
      return result;
    };
    const verifyManifest = async (digest: Digest, size: number | undefined, depth: number): Promise<Checked> => {
      const own = await verify(digest, size);
      if (!own.ok) return own;
      let summary;
      try {
        summary = summarizeManifest(await this.store.readSmallBlob(repository, digest), undefined);
      } catch (error) {
        return { ok: false, reason: `manifest ${digest.value} does not parse: ${(error as Error).message}` };
      }
      const descriptors = summary.isIndex ? (summary.document.manifests as unknown[]) : [summary.document.config, ...(summary.document.layers as unknown[])];
      for (const descriptor of descriptors as Array<{ digest: string; size: number; mediaType?: string }>) {
        const child = parseDigest(descriptor.digest)!;
        if (!summary.isIndex && !summary.blobs.some((blob) => blob.value === child.value)) continue; // non-distributable layer
        const result = summary.isIndex && depth < 4 ? await verifyManifest(child, descriptor.size, depth + 1) : await verify(child, descriptor.size);
        if (!result.ok) return result;
      }
      return { ok: true };
    };
    const results: ScrubResult[] = [];
    for (const entry of index.manifests) {
      const reference = entry.annotations?.[REF_NAME] ?? entry.digest;
      const digest = parseDigest(entry.digest);
      const result = digest ? await verifyManifest(digest, entry.size, 0) : { ok: false, reason: `index.json names an invalid digest ${entry.digest}` };
      results.push({ repository, reference, status: result.ok ? 'ok' : 'affected', ...(result.reason ? { reason: result.reason } : {}) });
    }
    return results;
  }

  private async verifyBlob(repository: string, digest: Digest, size: number | undefined, buffer: Buffer): Promise<Checked> {
    let reader;
    try {
      reader = await this.store.openBlob(repository, digest);
    } catch {
      return { ok: false, reason: `blob ${digest.value} is missing` };
    }
    try {
      if (size !== undefined && reader.size !== size) return { ok: false, reason: `blob ${digest.value} has ${reader.size} bytes, ${size} expected` };
      const hash = createHash(digest.algorithm);
      for (let position = 0; position < reader.size;) {
        const bytes = await reader.read(buffer, position);
        if (bytes === 0) break;
        hash.update(buffer.subarray(0, bytes));
        position += bytes;
      }
      const actual = hash.digest('hex');
      return actual === digest.hex ? { ok: true } : { ok: false, reason: `blob ${digest.value} content has digest ${digest.algorithm}:${actual}` };
    } finally {
      await reader.close();
    }
  }
}
