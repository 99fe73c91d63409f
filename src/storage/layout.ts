/**
 * Every storage path is built here, and only from validated names and digests. The tree is zot's
 * local layout, so a zot storage root can be served as is:
 *
 *   <rootDirectory>/
 *     <repository>/            one OCI image layout per repository; names nest (library/alpine)
 *       oci-layout             {"imageLayoutVersion":"1.0.0"}
 *       index.json             manifests[]; a tag is the org.opencontainers.image.ref.name annotation
 *       blobs/<alg>/<hex>      manifests, configs and layers
 *       .uploads/<uuid>        bytes of an unfinished upload session, or of a repository file
 *                              (manifest, index.json) about to be renamed into place
 *     _berth/<name>.json     Berth's own small documents (sessions, users, API keys)
 *     _berth/<name>.jsonl    Berth's append-only logs (the dedupe index)
 *     _sessions/, cache.db, meta.db   zot's own files, never repositories
 */
import path from 'node:path';
import { assertValidName } from '../oci/names.js';
import type { Digest, DigestAlgorithm } from '../oci/digest.js';

const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUploadId(id: string): boolean {
  return UPLOAD_ID.test(id);
}

export class Layout {
  constructor(readonly root: string) {}

  repository(name: string): string {
    assertValidName(name);
    return path.join(this.root, ...name.split('/'));
  }

  ociLayout(name: string): string {
    return path.join(this.repository(name), 'oci-layout');
  }

  index(name: string): string {
    return path.join(this.repository(name), 'index.json');
  }

  blobFolder(name: string, algorithm: DigestAlgorithm): string {
    return path.join(this.repository(name), 'blobs', algorithm);
  }

  blob(name: string, digest: Digest): string {
    return path.join(this.blobFolder(name, digest.algorithm), digest.hex);
  }

  uploads(name: string): string {
    return path.join(this.repository(name), '.uploads');
  }

  /** Callers check `isUploadId` first and answer BLOB_UPLOAD_UNKNOWN; this refuses to build a bad path. */
  upload(name: string, id: string): string {
    if (!isUploadId(id)) throw new Error(`refusing to build a path from upload id ${JSON.stringify(id)}`);
    return path.join(this.uploads(name), id);
  }

  /** A document of Berth's own state; `name` is a constant of the caller's, never user input. */
  stateDocument(name: string, extension: 'json' | 'jsonl' = 'json'): string {
    if (!/^[a-z][a-z-]*$/.test(name)) throw new Error(`refusing to build a path from state document ${JSON.stringify(name)}`);
    return path.join(this.root, '_berth', `${name}.${extension}`);
  }

  /** Folder names that are never repositories nor hold any: layout folders and zot's private ones. */
  static isSkippedFolder(entry: string): boolean {
    return entry === 'blobs' || entry.startsWith('.') || entry.startsWith('_');
  }
}
