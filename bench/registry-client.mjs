/**
 * The few distribution-spec calls the benchmark makes, over undici, with no per-request copies of
 * blob bodies (Buffers and subarrays are written to the socket as they are).
 */
import { createHash } from 'node:crypto';
import { Client } from 'undici';
import { imageConfigBlob, smallBlob } from './data.mjs';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const TRANSFER_TIMEOUT_MS = 180_000;

/** One keep-alive connection for large transfers, done one at a time. */
export function transferClient(server) {
  return new Client(server.base, {
    headersTimeout: TRANSFER_TIMEOUT_MS,
    bodyTimeout: TRANSFER_TIMEOUT_MS,
    keepAliveTimeout: 30_000,
  });
}

async function expectStatus(response, expected, what) {
  if (response.statusCode === expected) return;
  const text = await response.body.text().catch(() => '');
  throw new Error(`${what}: HTTP ${response.statusCode}, expected ${expected}: ${text.slice(0, 500)}`);
}

/** Path and query of a Location header (docker-registry sends absolute URLs, Berth paths). */
function target(server, location, extraQuery) {
  if (!location) throw new Error('response without a Location header');
  const url = new URL(location, server.base);
  if (extraQuery) for (const [key, value] of Object.entries(extraQuery)) url.searchParams.set(key, value);
  return url.pathname + url.search;
}

async function startUpload(dispatcher, server, repo) {
  const response = await dispatcher.request({ method: 'POST', path: `/v2/${repo}/blobs/uploads/`, headers: { 'content-length': '0' } });
  await expectStatus(response, 202, `POST /v2/${repo}/blobs/uploads/`);
  await response.body.dump();
  return target(server, response.headers.location);
}

/** POST, then one PUT ?digest= carrying the whole body (a Buffer, or a stream with `size`). */
export async function pushMonolithic(dispatcher, server, repo, body, digest, size = body.length) {
  const location = await startUpload(dispatcher, server, repo);
  const response = await dispatcher.request({
    method: 'PUT',
    path: target(server, location, { digest }),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body,
  });
  await expectStatus(response, 201, `PUT ${repo} blob ${digest}`);
  await response.body.dump();
}

/** POST, PATCH `chunkSize` slices with Content-Range, then an empty PUT ?digest=. */
export async function pushChunked(dispatcher, server, repo, buffer, digest, chunkSize) {
  let location = await startUpload(dispatcher, server, repo);
  const chunks = Math.ceil(buffer.length / chunkSize);
  for (let i = 0; i < chunks; i++) {
    const start = i * chunkSize;
    const end = Math.min(start + chunkSize, buffer.length);
    const response = await dispatcher.request({
      method: 'PATCH',
      path: location,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(end - start),
        'content-range': `${start}-${end - 1}`,
      },
      body: buffer.subarray(start, end),
    });
    await expectStatus(response, 202, `PATCH ${repo} chunk ${i + 1}/${chunks}`);
    await response.body.dump();
    location = target(server, response.headers.location);
  }
  const response = await dispatcher.request({ method: 'PUT', path: target(server, location, { digest }), headers: { 'content-length': '0' } });
  await expectStatus(response, 201, `PUT ${repo} chunked blob ${digest}`);
  await response.body.dump();
}

/**
 * GETs a blob, hashing it as it streams; throws unless size and sha256 match. Uses undici's
 * dispatch handler rather than a body stream: the client is on the same small machine as the
 * servers, and the stream machinery would cost it more CPU than the hashing.
 */
export async function pullBlob(dispatcher, repo, digest, size) {
  const hash = createHash('sha256');
  let received = 0;
  let status = 0;
  let errorText = '';
  await new Promise((resolve, reject) => {
    dispatcher.dispatch(
      { method: 'GET', path: `/v2/${repo}/blobs/${digest}` },
      {
        onConnect() {},
        onHeaders(statusCode) {
          status = statusCode;
          return true;
        },
        onData(chunk) {
          if (status === 200) {
            hash.update(chunk);
            received += chunk.length;
          } else if (errorText.length < 500) {
            errorText += chunk.toString('utf8');
          }
          return true;
        },
        onComplete: () => resolve(),
        onError: (error) => reject(error),
      },
    );
  });
  if (status !== 200) throw new Error(`GET ${repo} blob ${digest}: HTTP ${status}, expected 200: ${errorText.slice(0, 500)}`);
  const actual = `sha256:${hash.digest('hex')}`;
  if (received !== size || actual !== digest) throw new Error(`pulled ${received} bytes with ${actual}; expected ${size} bytes with ${digest}`);
  return received;
}

export async function putManifest(dispatcher, repo, reference, bytes) {
  const response = await dispatcher.request({
    method: 'PUT',
    path: `/v2/${repo}/manifests/${reference}`,
    headers: { 'content-type': OCI_MANIFEST },
    body: bytes,
  });
  await expectStatus(response, 201, `PUT ${repo} manifest ${reference}`);
  await response.body.dump();
}

/** Pushes a one-layer OCI image (small config and layer) and its manifest under `tag`. */
export async function pushSmallImage(dispatcher, server, repo, tag) {
  const layer = smallBlob(4096);
  const config = imageConfigBlob([layer.digest]);
  for (const blob of [config, layer]) await pushMonolithic(dispatcher, server, repo, blob.bytes, blob.digest);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.bytes.length },
      layers: [{ mediaType: OCI_LAYER, digest: layer.digest, size: layer.bytes.length }],
    }),
  );
  await putManifest(dispatcher, repo, tag, manifest);
  return { manifest, layer, config };
}
