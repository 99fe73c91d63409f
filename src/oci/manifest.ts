/**
 * Reading what a pushed manifest refers to. The bytes are never re-serialised: this only looks.
 * Spec: image-spec v1.1 manifest.md and image-index.md; distribution-spec "Pushing Manifests".
 */
import { RegistryError } from './errors.js';
import { parseDigest, type Digest } from './digest.js';
import { MANIFEST_MEDIA_TYPES, essence, isIndexMediaType, isNonDistributable } from './media-types.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: Record<string, unknown>;
  urls?: string[];
}

/** A descriptor whose content the repository must hold, as the manifest describes it. */
export interface Reference {
  digest: Digest;
  size: number;
  mediaType?: string;
  /** Where in the manifest: `config`, `layers[2]`, `manifests[0]`. */
  where: string;
}

/** What a manifest says about itself and what it needs the repository to hold. */
export interface ManifestSummary {
  mediaType: string;
  isIndex: boolean;
  /** Blobs (config, layers) that must exist in the repository. */
  blobs: Digest[];
  /** Child manifests (of an index) that must exist in the repository. */
  manifests: Digest[];
  /** Config, distributable layers and child manifests, with the size each descriptor claims. */
  references: Reference[];
  subject?: Descriptor;
  /** The artifact type a referrers listing shows: `artifactType`, else the config's media type. */
  artifactType?: string;
  annotations?: Record<string, string>;
  /** The parsed document, for schema validation. */
  document: Record<string, unknown>;
}

function invalid(reason: string): RegistryError {
  return new RegistryError('MANIFEST_INVALID', { reason });
}

/**
 * Works out the manifest's media type from its `mediaType` field and the request's Content-Type:
 * they must agree when both are given (image-spec: mediaType SHOULD be set; distribution-spec: the
 * Content-Type MUST match it when present).
 */
function resolveMediaType(document: Record<string, unknown>, contentType: string | undefined): string {
  const declared = typeof document.mediaType === 'string' ? document.mediaType : undefined;
  const sent = essence(contentType);
  if (declared !== undefined && sent !== '' && MANIFEST_MEDIA_TYPES.has(sent) && declared !== sent) {
    throw invalid(`mediaType "${declared}" does not match Content-Type "${sent}"`);
  }
  const mediaType = declared ?? (MANIFEST_MEDIA_TYPES.has(sent) ? sent : undefined);
  if (mediaType === undefined) {
    // OCI manifests may omit mediaType; tell an index from a manifest by its shape.
    if (Array.isArray(document.manifests)) return 'application/vnd.oci.image.index.v1+json';
    if (document.config !== undefined) return 'application/vnd.oci.image.manifest.v1+json';
    throw invalid(`unknown manifest media type "${sent}"`);
  }
  if (!MANIFEST_MEDIA_TYPES.has(mediaType)) throw invalid(`unsupported manifest media type "${mediaType}"`);
  return mediaType;
}

function descriptorDigest(value: unknown, where: string): Digest {
  return reference(value, where).digest;
}

function reference(value: unknown, where: string): Reference {
  if (typeof value !== 'object' || value === null) throw invalid(`${where} is not a descriptor`);
  const { digest: raw, size, mediaType } = value as { digest?: unknown; size?: unknown; mediaType?: unknown };
  const digest = typeof raw === 'string' ? parseDigest(raw) : undefined;
  if (!digest) throw invalid(`${where}.digest is not a valid digest`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`${where}.size is not a non-negative integer`);
  return { digest, size, where, ...(typeof mediaType === 'string' ? { mediaType } : {}) };
}

export function summarizeManifest(bytes: Buffer, contentType: string | undefined): ManifestSummary {
  let document: unknown;
  try {
    document = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw invalid(`not JSON: ${(error as Error).message}`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) throw invalid('not a JSON object');
  const doc = document as Record<string, unknown>;
  if (doc.schemaVersion !== 2) throw invalid('schemaVersion must be 2');
  const mediaType = resolveMediaType(doc, contentType);
  const isIndex = isIndexMediaType(mediaType);
  const summary: ManifestSummary = { mediaType, isIndex, blobs: [], manifests: [], references: [], document: doc };

  if (isIndex) {
    if (!Array.isArray(doc.manifests)) throw invalid('manifests must be an array');
    doc.manifests.forEach((child, i) => {
      const found = reference(child, `manifests[${i}]`);
      summary.manifests.push(found.digest);
      summary.references.push(found);
    });
  } else {
    const config = reference(doc.config, 'config');
    summary.blobs.push(config.digest);
    summary.references.push(config);
    if (!Array.isArray(doc.layers)) throw invalid('layers must be an array');
    doc.layers.forEach((layer, i) => {
      const found = reference(layer, `layers[${i}]`);
      if (found.mediaType !== undefined && isNonDistributable(found.mediaType)) return;
      summary.blobs.push(found.digest);
      summary.references.push(found);
    });
  }
  if (doc.subject !== undefined) {
    descriptorDigest(doc.subject, 'subject');
    summary.subject = doc.subject as Descriptor;
  }
  const configType = (doc.config as { mediaType?: unknown } | undefined)?.mediaType;
  if (typeof doc.artifactType === 'string') summary.artifactType = doc.artifactType;
  else if (typeof configType === 'string') summary.artifactType = configType;
  if (typeof doc.annotations === 'object' && doc.annotations !== null) summary.annotations = doc.annotations as Record<string, string>;
  return summary;
}
