/** Listing a repository's blob and upload files, for garbage collection and scrub. */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseDigest } from '../oci/digest.js';
import { isNotFound } from './files.js';
import { isUploadId, type Layout } from './layout.js';
import type { BlobFile, UploadFile } from './store.js';

async function entries(folder: string): Promise<string[]> {
  try {
    return await readdir(folder);
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

/** Files under blobs/<alg>/ whose names are digests; anything else there is left alone. */
export async function listBlobFiles(layout: Layout, name: string): Promise<BlobFile[]> {
  const found: BlobFile[] = [];
  for (const algorithm of ['sha256', 'sha512'] as const) {
    const folder = layout.blobFolder(name, algorithm);
    for (const hex of await entries(folder)) {
      const digest = parseDigest(`${algorithm}:${hex}`);
      if (!digest) continue;
      const info = await stat(path.join(folder, hex)).catch(() => undefined);
      if (info?.isFile()) found.push({ digest, size: info.size, modifiedMs: info.mtimeMs, links: info.nlink });
    }
  }
  return found;
}

export async function listUploadFiles(layout: Layout, name: string): Promise<UploadFile[]> {
  const found: UploadFile[] = [];
  for (const id of await entries(layout.uploads(name))) {
    if (!isUploadId(id)) continue;
    const info = await stat(layout.upload(name, id)).catch(() => undefined);
    if (info?.isFile()) found.push({ id, size: info.size, modifiedMs: info.mtimeMs });
  }
  return found;
}
