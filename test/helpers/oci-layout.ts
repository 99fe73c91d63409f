/**
 * Test images, built from scratch so every byte and digest is known: gzip-compressed tar layers of
 * random files, a real image config (rootfs.diff_ids are the sha256 of the uncompressed tars), an
 * OCI image manifest, and a multi-arch OCI index over several such images. They are returned in
 * memory (for tests that push with fetch) and can be written as an OCI image layout directory
 * (oci-layout, index.json, blobs/sha256/<hex>) that skopeo, podman and buildah read as `oci:<dir>:<tag>`.
 * Spec: image-spec v1.1 image-layout.md, manifest.md, image-index.md, config.md.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, sha256 } from './oci.js';

/** The annotation that names a tag in an image layout's index.json (and in Berth's per-repo index.json). */
export const REF_NAME = 'org.opencontainers.image.ref.name';

/** A content-addressed blob with the descriptor that points to it. */
export interface ContentBlob {
  mediaType: string;
  digest: string;
  size: number;
  bytes: Buffer;
}

export interface Layer extends ContentBlob {
  /** sha256 of the uncompressed tar: the config's rootfs.diff_ids entry. */
  diffId: string;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Image {
  /** The manifest's exact bytes; its digest is what a registry must answer with. */
  manifest: ContentBlob;
  config: ContentBlob;
  layers: Layer[];
  platform: Platform;
}

export interface ImageIndex {
  index: ContentBlob;
  images: Image[];
}

export interface ImageOptions {
  /** Number of the image's own layers (default 3). */
  layers?: number;
  /** Regular files per layer (default 3). */
  filesPerLayer?: number;
  /** Largest random file in bytes (default 64 KiB); random content does not compress, so this sets layer size. */
  maxFileBytes?: number;
  platform?: Platform;
  /** Goes into file names, history and annotations, so two images built with different labels differ. */
  label?: string;
  /** Layers put below the image's own (a shared base, as many images in one repository have). */
  baseLayers?: Layer[];
}

function blob(mediaType: string, bytes: Buffer): ContentBlob {
  return { mediaType, digest: sha256(bytes), size: bytes.length, bytes };
}

function descriptor(item: ContentBlob): { mediaType: string; digest: string; size: number } {
  return { mediaType: item.mediaType, digest: item.digest, size: item.size };
}

/** A fixed time, so configs and tar headers do not depend on when the test ran. */
const CREATED = new Date('2024-01-02T03:04:05Z');

/** A tar (ustar, as container runtimes expect) holding one directory of files with random content. */
async function buildTar(folder: string, files: Array<{ name: string; bytes: Buffer }>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  const common = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: CREATED };
  pack.entry({ ...common, name: `${folder}/`, type: 'directory', mode: 0o755 });
  for (const file of files) pack.entry({ ...common, name: `${folder}/${file.name}`, type: 'file', mode: 0o644, size: file.bytes.length }, file.bytes);
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** A gzip-compressed tar layer of `fileCount` random files under `folder`. */
export async function buildLayer(folder: string, fileCount = 3, maxFileBytes = 64 * 1024): Promise<Layer> {
  const files = Array.from({ length: fileCount }, (_, i) => ({ name: `file-${i}.bin`, bytes: randomBytes(randomInt(1, maxFileBytes + 1)) }));
  const uncompressed = await buildTar(folder, files);
  return { ...blob(OCI_LAYER_GZIP, gzipSync(uncompressed)), diffId: sha256(uncompressed) };
}

/** A valid single-platform image; not meant to run, only to be stored, copied and unpacked. */
export async function buildImage(options: ImageOptions = {}): Promise<Image> {
  const label = options.label ?? randomBytes(4).toString('hex');
  const platform = options.platform ?? { architecture: 'amd64', os: 'linux' };
  const layerCount = options.layers ?? 3;
  const layers: Layer[] = [...(options.baseLayers ?? [])];
  for (let i = 0; i < layerCount; i++) {
    layers.push(await buildLayer(`berth-${label}/layer-${i}`, options.filesPerLayer ?? 3, options.maxFileBytes ?? 64 * 1024));
  }
  const configDocument = {
    created: CREATED.toISOString(),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/true'], Labels: { 'berth.test.label': label } },
    rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
    history: layers.map((_, i) => ({ created: CREATED.toISOString(), created_by: `berth test layer ${i} (${label})` })),
  };
  const config = blob(OCI_CONFIG, Buffer.from(JSON.stringify(configDocument)));
  const manifestDocument = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptor(config),
    layers: layers.map(descriptor),
    annotations: { 'org.opencontainers.image.title': `berth-test-${label}` },
  };
  return { manifest: blob(OCI_MANIFEST, Buffer.from(JSON.stringify(manifestDocument))), config, layers, platform };
}

/** An OCI index over one image per platform (default linux/amd64 and linux/arm64). */
export async function buildImageIndex(
  platforms: Platform[] = [
    { architecture: 'amd64', os: 'linux' },
    { architecture: 'arm64', os: 'linux', variant: 'v8' },
  ],
  options: Omit<ImageOptions, 'platform'> = {},
): Promise<ImageIndex> {
  const label = options.label ?? randomBytes(4).toString('hex');
  const images: Image[] = [];
  for (const platform of platforms) {
    const suffix = `${platform.os}-${platform.architecture}${platform.variant ? `-${platform.variant}` : ''}`;
    images.push(await buildImage({ ...options, platform, label: `${label}-${suffix}` }));
  }
  const document = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: images.map((image) => ({ ...descriptor(image.manifest), platform: image.platform })),
  };
  return { index: blob(OCI_INDEX, Buffer.from(JSON.stringify(document))), images };
}

export function isImageIndex(target: Image | ImageIndex): target is ImageIndex {
  return 'index' in target;
}

/** Every blob an image or index consists of (manifests included), without duplicates. */
export function blobsOf(target: Image | ImageIndex): ContentBlob[] {
  const all = isImageIndex(target) ? [target.index, ...target.images.flatMap((image) => [image.manifest, image.config, ...image.layers])] : [target.manifest, target.config, ...target.layers];
  return [...new Map(all.map((item) => [item.digest, item])).values()];
}

/** The top-level manifest: the index of a multi-arch image, else the image manifest. */
export function topManifest(target: Image | ImageIndex): ContentBlob {
  return isImageIndex(target) ? target.index : target.manifest;
}

export interface WrittenLayout {
  dir: string;
  /** `oci:<dir>:<tag>`, the skopeo/podman/buildah reference of a tag in this layout. */
  reference(tag: string): string;
  /** Digests of every blob file written under blobs/sha256. */
  blobDigests: string[];
  /** tag → digest of the manifest (or index) it names in index.json. */
  tags: Record<string, string>;
}

/** Writes an OCI image layout in `dir` (which should exist and be empty) holding each target under its tag. */
export async function writeOciLayout(dir: string, tagged: Record<string, Image | ImageIndex>): Promise<WrittenLayout> {
  const blobFolder = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobFolder, { recursive: true });
  const blobs = new Map<string, ContentBlob>();
  for (const target of Object.values(tagged)) for (const item of blobsOf(target)) blobs.set(item.digest, item);
  for (const item of blobs.values()) await writeFile(path.join(blobFolder, item.digest.slice('sha256:'.length)), item.bytes);
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: Object.entries(tagged).map(([tag, target]) => ({ ...descriptor(topManifest(target)), annotations: { [REF_NAME]: tag } })),
  };
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(path.join(dir, 'index.json'), JSON.stringify(index));
  return {
    dir,
    reference: (tag) => `oci:${dir}:${tag}`,
    blobDigests: [...blobs.keys()],
    tags: Object.fromEntries(Object.entries(tagged).map(([tag, target]) => [tag, topManifest(target).digest])),
  };
}

export interface ReadLayout {
  /** index.json as parsed. */
  index: { manifests: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string> }> };
  /** digest → bytes of every file under blobs/sha256, each checked against its name. */
  blobs: Map<string, Buffer>;
}

/** Reads an OCI image layout (for example one skopeo wrote) and fails if any blob's bytes do not match its file name. */
export async function readOciLayout(dir: string): Promise<ReadLayout> {
  const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8')) as ReadLayout['index'];
  const blobs = new Map<string, Buffer>();
  const blobFolder = path.join(dir, 'blobs', 'sha256');
  for (const hex of await readdir(blobFolder)) {
    const bytes = await readFile(path.join(blobFolder, hex));
    if (sha256(bytes) !== `sha256:${hex}`) throw new Error(`${blobFolder}/${hex} holds bytes with digest ${sha256(bytes)}`);
    blobs.set(`sha256:${hex}`, bytes);
  }
  return { index, blobs };
}

/** The regular files of an uncompressed tar layer: path (without a leading `./` or `/`) → content. */
export async function readTarFiles(bytes: Buffer): Promise<Map<string, Buffer>> {
  const extract = tar.extract();
  const files = new Map<string, Buffer>();
  const reading = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      if (entry.header.type === 'file') files.set(entry.header.name.replace(/^\.?\//, ''), Buffer.concat(chunks));
    }
  })();
  extract.end(bytes);
  await reading;
  return files;
}
