/**
 * A minimal registry client over fetch, for tests that push or check what real clients stored:
 * the distribution-spec push flow (POST a session, PATCH chunks with Content-Range, PUT ?digest=,
 * PUT the manifest) and manifest/blob reads that return status, headers and exact bytes.
 * Spec: distribution-spec v1.1 "Pushing blobs in chunks", "Pushing Manifests", "Pulling manifests".
 */
import type { ContentBlob, Image, ImageIndex } from './oci-layout.js';
import { blobsOf, isImageIndex } from './oci-layout.js';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from './oci.js';

/** Every manifest type a client may ask for; Berth should answer with the stored type regardless. */
export const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST].join(', ');

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

function failure(step: string, response: Response, body: string): Error {
  return new Error(`${step}: HTTP ${response.status} ${body}`);
}

/** Resolves an upload Location (absolute or relative to the registry) against the registry URL. */
function sessionUrl(url: string, location: string | null): URL {
  if (location === null) throw new Error('upload response has no Location header');
  return new URL(location, url);
}

/** Uploads one blob as a chunked session: POST, PATCH per `chunkSize` bytes with Content-Range, PUT ?digest=. */
export async function pushBlobInChunks(url: string, repo: string, item: ContentBlob, chunkSize: number): Promise<void> {
  const started = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (started.status !== 202) throw failure(`POST upload of ${item.digest}`, started, await started.text());
  let location = sessionUrl(url, started.headers.get('location'));
  for (let offset = 0; offset < item.size; offset += chunkSize) {
    const chunk = item.bytes.subarray(offset, Math.min(offset + chunkSize, item.size));
    const patched = await fetch(location, {
      method: 'PATCH',
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + chunk.length - 1}` },
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
  const finished = await fetch(location, { method: 'PUT' });
  const body = await finished.text();
  if (finished.status !== 201) throw failure(`PUT ?digest=${item.digest}`, finished, body);
  if (finished.headers.get('docker-content-digest') !== item.digest) {
    throw new Error(`PUT of ${item.digest} answered Docker-Content-Digest ${String(finished.headers.get('docker-content-digest'))}`);
  }
}

/** PUTs a manifest's exact bytes under `reference` and returns the Docker-Content-Digest the registry answered. */
export async function putManifest(url: string, repo: string, reference: string, manifest: ContentBlob): Promise<string> {
  const response = await fetch(`${url}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': manifest.mediaType },
    body: manifest.bytes,
  });
  const body = await response.text();
  if (response.status !== 201) throw failure(`PUT manifest ${repo}:${reference}`, response, body);
  return response.headers.get('docker-content-digest') ?? '';
}

/** Pushes every blob in chunks, then the child manifests of an index by digest, then the top manifest under `tag`. */
export async function pushOverHttp(url: string, repo: string, tag: string, target: Image | ImageIndex, chunkSize = 16 * 1024): Promise<string> {
  const blobs = blobsOf(target).filter((item) => item.mediaType !== OCI_MANIFEST && item.mediaType !== OCI_INDEX);
  for (const item of blobs) await pushBlobInChunks(url, repo, item, chunkSize);
  if (isImageIndex(target)) {
    for (const image of target.images) await putManifest(url, repo, image.manifest.digest, image.manifest);
    return putManifest(url, repo, tag, target.index);
  }
  return putManifest(url, repo, tag, target.manifest);
}
