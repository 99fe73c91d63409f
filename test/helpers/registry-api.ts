/**
 * A minimal registry client over fetch, for tests that push and pull with plain HTTP or check what
 * real clients stored: blobs pushed monolithically (POST, PUT ?digest=) or in chunks (PATCH with
 * Content-Range), manifests put byte for byte, one `pushImage` for a whole image, and reads that
 * return status, headers and exact bytes.
 * Spec: distribution-spec v1.1 "Pushing blobs", "Pushing blobs in chunks", "Pushing Manifests", "Pulling manifests".
 */
import { randomBytes } from 'node:crypto';
import type { ContentBlob, Image, Layer } from './oci-layout.js';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, sha256 } from './oci.js';

/** Every manifest type a client may ask for; Berth should answer with the stored type regardless. */
export const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST].join(', ');

type RequestHeaders = Record<string, string>;

function failure(step: string, response: Response, body: string): Error {
  return new Error(`${step}: HTTP ${response.status} ${body}`);
}

/** Resolves an upload Location (absolute or relative to the registry) against the registry URL. */
function sessionUrl(url: string, location: string | null): URL {
  if (location === null) throw new Error('upload response has no Location header');
  return new URL(location, url);
}

/** Monolithic push (POST then PUT ?digest=); returns the digest. */
export async function pushBlob(url: string, repo: string, bytes: Uint8Array, headers: RequestHeaders = {}): Promise<string> {
  const digest = sha256(bytes);
  const start = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  if (start.status !== 202) throw failure('POST upload', start, await start.text());
  // Absolute or relative, with or without a query (distribution keeps its upload state there).
  const target = sessionUrl(url, start.headers.get('location'));
  target.searchParams.set('digest', digest);
  const put = await fetch(target, { method: 'PUT', body: bytes, headers: { ...headers, 'content-type': 'application/octet-stream' } });
  if (put.status !== 201) throw failure('PUT upload', put, await put.text());
  return digest;
}

/** Uploads one blob as a chunked session: POST, PATCH per `chunkSize` bytes with Content-Range, PUT ?digest=. */
export async function pushBlobInChunks(url: string, repo: string, item: ContentBlob, chunkSize: number, headers: RequestHeaders = {}): Promise<void> {
  const started = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  if (started.status !== 202) throw failure(`POST upload of ${item.digest}`, started, await started.text());
  let location = sessionUrl(url, started.headers.get('location'));
  for (let offset = 0; offset < item.size; offset += chunkSize) {
    const chunk = item.bytes.subarray(offset, Math.min(offset + chunkSize, item.size));
    const patched = await fetch(location, {
      method: 'PATCH',
      headers: { ...headers, 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + chunk.length - 1}` },
      body: chunk,
    });
    const body = await patched.text();
    if (patched.status !== 202) throw failure(`PATCH ${offset}-${offset + chunk.length - 1} of ${item.digest}`, patched, body);
    // The spec's Range header reports the bytes the session now holds, inclusive.
    const range = patched.headers.get('range');
    if (range !== `0-${offset + chunk.length - 1}`) throw new Error(`PATCH of ${item.digest} answered Range ${String(range)}, expected 0-${offset + chunk.length - 1}`);
    location = sessionUrl(url, patched.headers.get('location'));
  }
  location.searchParams.set('digest', item.digest);
  const finished = await fetch(location, { method: 'PUT', headers });
  const body = await finished.text();
  if (finished.status !== 201) throw failure(`PUT ?digest=${item.digest}`, finished, body);
  if (finished.headers.get('docker-content-digest') !== item.digest) {
    throw new Error(`PUT of ${item.digest} answered Docker-Content-Digest ${String(finished.headers.get('docker-content-digest'))}`);
  }
}

/** PUTs a manifest's exact bytes under `reference` and returns the Docker-Content-Digest the registry answered. */
export async function putManifest(url: string, repo: string, reference: string, manifest: ContentBlob, headers: RequestHeaders = {}): Promise<string> {
  const response = await fetch(`${url}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': manifest.mediaType },
    body: manifest.bytes,
  });
  const body = await response.text();
  if (response.status !== 201) throw failure(`PUT manifest ${repo}:${reference}`, response, body);
  return response.headers.get('docker-content-digest') ?? '';
}

export interface PushedImage {
  /** The manifest's exact bytes and their digest. */
  manifest: Buffer;
  digest: string;
  config: Buffer;
  layers: Buffer[];
}

export interface PushOptions {
  /** The image to push (e.g. from oci-layout's buildImage); by default a small random one, see below. */
  image?: Image;
  /** The default image's layers: this many random blobs of 1 to 5 KiB (default 2). */
  layers?: number;
  /** Makes the default image a referrer of `subject`. */
  subject?: { digest: string; size: number; mediaType: string };
  artifactType?: string;
  /** Pushes each blob as a chunked session of PATCHes this size; by default each blob is one PUT. */
  chunkSize?: number;
  headers?: RequestHeaders;
}

/** A small OCI image: random layer blobs, a real config naming them, and its manifest. */
function smallImage(options: PushOptions): Image {
  const blob = (mediaType: string, bytes: Buffer): ContentBlob => ({ mediaType, digest: sha256(bytes), size: bytes.length, bytes });
  const layers: Layer[] = Array.from({ length: options.layers ?? 2 }, () => {
    const layer = blob(OCI_LAYER, randomBytes(1024 + Math.floor(Math.random() * 4096)));
    return { ...layer, diffId: layer.digest };
  });
  const platform = { architecture: 'amd64', os: 'linux' };
  const config = blob(OCI_CONFIG, Buffer.from(JSON.stringify({ ...platform, rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) } })));
  const document = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    ...(options.artifactType ? { artifactType: options.artifactType } : {}),
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((layer) => ({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size })),
    ...(options.subject ? { subject: options.subject } : {}),
  };
  return { manifest: blob(OCI_MANIFEST, Buffer.from(JSON.stringify(document))), config, layers, platform };
}

/**
 * Pushes an image's config and layers, then its manifest under `tag`; fails unless every step
 * succeeds and the registry answers the manifest's own digest. Returns what was pushed.
 */
export async function pushImage(url: string, repo: string, tag: string, options: PushOptions = {}): Promise<PushedImage> {
  const image = options.image ?? smallImage(options);
  const headers = options.headers ?? {};
  for (const item of [image.config, ...image.layers]) {
    if (options.chunkSize === undefined) await pushBlob(url, repo, item.bytes, headers);
    else await pushBlobInChunks(url, repo, item, options.chunkSize, headers);
  }
  const answered = await putManifest(url, repo, tag, image.manifest, headers);
  if (answered !== image.manifest.digest) throw new Error(`PUT manifest ${repo}:${tag} answered Docker-Content-Digest ${answered}, expected ${image.manifest.digest}`);
  return { manifest: image.manifest.bytes, digest: image.manifest.digest, config: image.config.bytes, layers: image.layers.map((layer) => layer.bytes) };
}

export interface Fetched {
  status: number;
  headers: Headers;
  bytes: Buffer;
}

async function fetched(response: Response): Promise<Fetched> {
  return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
}

export async function getManifest(url: string, repo: string, reference: string): Promise<Fetched> {
  return fetched(await fetch(`${url}/v2/${repo}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT } }));
}

export async function getBlob(url: string, repo: string, digest: string): Promise<Fetched> {
  return fetched(await fetch(`${url}/v2/${repo}/blobs/${digest}`));
}

/** The OCI error code of an error response (the first of its `errors`). */
export async function errorCode(response: Response): Promise<string | undefined> {
  const body = (await response.json()) as { errors?: Array<{ code: string }> };
  return body.errors?.[0]?.code;
}

/** A response's JSON body, loosely typed for assertions. */
export async function json(response: Response): Promise<any> {
  return response.json();
}
