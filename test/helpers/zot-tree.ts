/**
 * A storage root exactly as zot's local driver writes it (zot.md section 5, zot pkg/storage/local
 * and imagestore), built file by file rather than by running zot:
 *
 *   <root>/
 *     cache.db, meta.db        zot's boltdb dedupe cache and metaDB (opaque bytes here)
 *     _sessions/session_x      gorilla filesystem sessions
 *     _trivy/db/…              the CVE database cache
 *     _restore_complete        marker of a dedupe restore pass
 *     library/alpine/          nested repositories, each a full OCI image layout:
 *       oci-layout             {"imageLayoutVersion":"1.0.0"}
 *       index.json             manifests[]; tags as org.opencontainers.image.ref.name
 *       blobs/sha256/<hex>     manifests, configs, layers; a layer two repositories share is one
 *                              file hard-linked into both (zot's local dedupe)
 *       .uploads/<uuid>        an upload zot never finished
 *
 * What zot puts in index.json: a tag is an entry with the ref.name annotation; a manifest pushed by
 * digest (an untagged image, each child of a multi-arch index, a referrer) is an entry without one.
 * Some zot versions write index.json without a top-level mediaType: `infra/app` is such a variant.
 * Files are 0644 and folders 0755, zot's defaults.
 */
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REF_NAME, buildImage, buildImageIndex, buildLayer, type ContentBlob, type Image, type ImageIndex, type Layer } from './oci-layout.js';
import { OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, sha256 } from './oci.js';

const FILE_MODE = 0o644;
const FOLDER_MODE = 0o755;
export const SBOM_TYPE = 'application/spdx+json';

type Descriptor = { mediaType: string; digest: string; size: number; annotations?: Record<string, string> };

function contentBlob(mediaType: string, bytes: Buffer): ContentBlob {
  return { mediaType, digest: sha256(bytes), size: bytes.length, bytes };
}

function descriptor(item: ContentBlob, tag?: string): Descriptor {
  return { mediaType: item.mediaType, digest: item.digest, size: item.size, ...(tag === undefined ? {} : { annotations: { [REF_NAME]: tag } }) };
}

/** An image or artifact stored in the tree, and how it can be reached. */
export interface StoredManifest {
  repository: string;
  /** The tag in index.json, or undefined for an entry zot wrote for a push by digest. */
  tag?: string;
  manifest: ContentBlob;
  /** Every blob it consists of, manifests included (children of an index too). */
  blobs: ContentBlob[];
  /** For skopeo comparisons: the built image or index. */
  target?: Image | ImageIndex;
}

export interface ZotTree {
  root: string;
  /** What /v2/_catalog must list, sorted. */
  repositories: string[];
  manifests: StoredManifest[];
  /** The layer that zot deduped: one file, hard-linked into these repositories. */
  shared: { layer: Layer; repositories: string[] };
  /** The image pushed by digest that no index lists: what garbage collection may remove. */
  untagged: StoredManifest;
  /** The referrer (an SBOM) and its subject. */
  referrer: { repository: string; manifest: ContentBlob; subject: string; artifactType: string };
  /** The unfinished upload: `<repository>/.uploads/<id>`. */
  upload: { repository: string; id: string; size: number };
  /** zot's own files outside any repository, relative to the root. */
  zotFiles: string[];
}

/** Writes one repository's OCI layout; a blob another repository already holds becomes a hard link to it. */
async function writeRepository(root: string, name: string, entries: Descriptor[], blobs: ContentBlob[], written: Map<string, string>, withMediaType: boolean): Promise<void> {
  const folder = path.join(root, ...name.split('/'));
  const blobFolder = path.join(folder, 'blobs', 'sha256');
  await mkdir(blobFolder, { recursive: true, mode: FOLDER_MODE });
  // zot makes .uploads with the repository (imagestore initRepo), before any upload.
  await mkdir(path.join(folder, '.uploads'), { mode: FOLDER_MODE });
  for (const item of blobs) {
    const file = path.join(blobFolder, item.digest.slice('sha256:'.length));
    const original = written.get(item.digest);
    if (original) await link(original, file);
    else {
      await writeFile(file, item.bytes, { mode: FILE_MODE });
      written.set(item.digest, file);
    }
  }
  await writeFile(path.join(folder, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}', { mode: FILE_MODE });
  const index = withMediaType ? { schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries } : { schemaVersion: 2, manifests: entries };
  await writeFile(path.join(folder, 'index.json'), JSON.stringify(index), { mode: FILE_MODE });
}

function imageBlobs(target: Image | ImageIndex): ContentBlob[] {
  const all = 'index' in target ? [target.index, ...target.images.flatMap((image) => [image.manifest, image.config, ...image.layers])] : [target.manifest, target.config, ...target.layers];
  return [...new Map(all.map((item) => [item.digest, item])).values()];
}

export async function writeZotTree(root: string): Promise<ZotTree> {
  const written = new Map<string, string>();
  const shared = await buildLayer('zot-shared/base', 2, 16 * 1024);
  const small = { layers: 1, filesPerLayer: 2, maxFileBytes: 8 * 1024 };

  // library/alpine: a tagged image, a tagged multi-arch index whose children are untagged entries,
  // an untagged image pushed by digest, and an SBOM referrer of the tagged image.
  const alpine = await buildImage({ ...small, label: 'alpine-3.19', baseLayers: [shared] });
  const multi = await buildImageIndex(undefined, { ...small, label: 'alpine-3.20' });
  const untagged = await buildImage({ ...small, label: 'alpine-untagged' });
  const emptyConfig = contentBlob(OCI_EMPTY, Buffer.from('{}'));
  const sbom = contentBlob(SBOM_TYPE, Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'alpine', packages: [] })));
  const referrer = contentBlob(
    OCI_MANIFEST,
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: SBOM_TYPE,
        config: descriptor(emptyConfig),
        layers: [descriptor(sbom)],
        subject: descriptor(alpine.manifest),
        annotations: { 'org.opencontainers.image.created': '2024-01-02T03:04:05Z' },
      }),
    ),
  );
  const alpineEntries = [
    descriptor(alpine.manifest, '3.19'),
    ...multi.images.map((image) => descriptor(image.manifest)),
    descriptor(multi.index, '3.20'),
    descriptor(untagged.manifest),
    descriptor(referrer),
  ];
  const alpineBlobs = [...imageBlobs(alpine), ...imageBlobs(multi), ...imageBlobs(untagged), emptyConfig, sbom, referrer];
  await writeRepository(root, 'library/alpine', alpineEntries, alpineBlobs, written, true);
  const uploadId = '0f4d2a6e-5b1c-4c8e-9a3d-7e6f5a4b3c2d';
  await writeFile(path.join(root, 'library/alpine/.uploads', uploadId), randomBytes(3000), { mode: FILE_MODE });

  // infra/app: index.json without a top-level mediaType; shares the base layer with alpine.
  const app = await buildImage({ ...small, label: 'infra-app', baseLayers: [shared] });
  await writeRepository(root, 'infra/app', [descriptor(app.manifest, 'v1')], imageBlobs(app), written, false);

  // A deeper name, and a top-level one.
  const builder = await buildImage({ ...small, label: 'builder' });
  await writeRepository(root, 'team/tools/builder', [descriptor(builder.manifest, 'latest'), descriptor(builder.manifest, 'stable')], imageBlobs(builder), written, true);
  const busybox = await buildImage({ ...small, label: 'busybox' });
  await writeRepository(root, 'busybox', [descriptor(busybox.manifest, '1.36')], imageBlobs(busybox), written, true);

  // zot's own files.
  const zotFiles: Array<[string, Buffer]> = [
    ['cache.db', randomBytes(32 * 1024)],
    ['meta.db', randomBytes(64 * 1024)],
    ['_sessions/session_x', Buffer.from('MTcwNDE2MzQ0NXxEdi1CQkFFQ180SUFBUkFCRUFBQVpfLUNBQUVHYzNSeWFXNW5EQkFBRG1GMWRHZ2hkV2hsYm5ScFkyRjBaV1E9fA==')],
    ['_trivy/db/trivy.db', randomBytes(16 * 1024)],
    ['_trivy/db/metadata.json', Buffer.from('{"Version":2,"NextUpdate":"2024-01-03T00:00:00Z","UpdatedAt":"2024-01-02T00:00:00Z"}')],
    ['_restore_complete', Buffer.alloc(0)],
  ];
  for (const [file, bytes] of zotFiles) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true, mode: FOLDER_MODE });
    await writeFile(path.join(root, file), bytes, { mode: FILE_MODE });
  }

  const manifests: StoredManifest[] = [
    { repository: 'library/alpine', tag: '3.19', manifest: alpine.manifest, blobs: imageBlobs(alpine), target: alpine },
    { repository: 'library/alpine', tag: '3.20', manifest: multi.index, blobs: imageBlobs(multi), target: multi },
    ...multi.images.map((image) => ({ repository: 'library/alpine', manifest: image.manifest, blobs: imageBlobs(image), target: image })),
    { repository: 'library/alpine', manifest: untagged.manifest, blobs: imageBlobs(untagged), target: untagged },
    { repository: 'library/alpine', manifest: referrer, blobs: [referrer, emptyConfig, sbom] },
    { repository: 'infra/app', tag: 'v1', manifest: app.manifest, blobs: imageBlobs(app), target: app },
    { repository: 'team/tools/builder', tag: 'latest', manifest: builder.manifest, blobs: imageBlobs(builder), target: builder },
    { repository: 'team/tools/builder', tag: 'stable', manifest: builder.manifest, blobs: imageBlobs(builder), target: builder },
    { repository: 'busybox', tag: '1.36', manifest: busybox.manifest, blobs: imageBlobs(busybox), target: busybox },
  ];
  return {
    root,
    repositories: ['busybox', 'infra/app', 'library/alpine', 'team/tools/builder'],
    manifests,
    shared: { layer: shared, repositories: ['library/alpine', 'infra/app'] },
    untagged: manifests.find((stored) => stored.manifest.digest === untagged.manifest.digest)!,
    referrer: { repository: 'library/alpine', manifest: referrer, subject: alpine.manifest.digest, artifactType: SBOM_TYPE },
    upload: { repository: 'library/alpine', id: uploadId, size: 3000 },
    zotFiles: zotFiles.map(([file]) => file),
  };
}

/** The path of a repository's blob file. */
export function blobPath(root: string, repository: string, digest: string): string {
  return path.join(root, ...repository.split('/'), 'blobs', 'sha256', digest.slice('sha256:'.length));
}

/** Content hash, mode and inode of each file, to prove files were left alone. */
export async function fingerprint(root: string, files: string[]): Promise<Record<string, { sha256: string; mode: number; ino: number; mtimeMs: number }>> {
  const result: Record<string, { sha256: string; mode: number; ino: number; mtimeMs: number }> = {};
  for (const file of files) {
    const info = await stat(path.join(root, file));
    result[file] = {
      sha256: createHash('sha256')
        .update(await readFile(path.join(root, file)))
        .digest('hex'),
      mode: info.mode,
      ino: info.ino,
      mtimeMs: info.mtimeMs,
    };
  }
  return result;
}
