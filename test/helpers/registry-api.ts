/** Small HTTP helpers over the registry API for tests that push and pull with plain fetch. */
import { randomBytes } from 'node:crypto';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256 } from './oci.js';

/** Monolithic push (POST then PUT ?digest=); returns the digest. */
export async function pushBlob(url: string, repo: string, bytes: Uint8Array, headers: Record<string, string> = {}): Promise<string> {
  const digest = sha256(bytes);
  const start = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  if (start.status !== 202) throw new Error(`POST upload: ${start.status} ${await start.text()}`);
  const location = start.headers.get('location')!;
  const put = await fetch(`${url}${location}?digest=${digest}`, { method: 'PUT', body: bytes, headers: { ...headers, 'content-type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`PUT upload: ${put.status} ${await put.text()}`);
  return digest;
}

export interface PushedImage {
  manifest: Buffer;
  digest: string;
  config: Buffer;
  layers: Buffer[];
}

/** Pushes a small OCI image (random layers, real config) and tags it; returns what was pushed. */
export async function pushImage(
  url: string,
  repo: string,
  tag: string,
  options: { layers?: number; subject?: { digest: string; size: number; mediaType: string }; artifactType?: string; headers?: Record<string, string> } = {},
): Promise<PushedImage> {
  const layers = Array.from({ length: options.layers ?? 2 }, () => randomBytes(1024 + Math.floor(Math.random() * 4096)));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((layer) => sha256(layer)) } }));
  const headers = options.headers ?? {};
  await pushBlob(url, repo, config, headers);
  for (const layer of layers) await pushBlob(url, repo, layer, headers);
  const document = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    ...(options.artifactType ? { artifactType: options.artifactType } : {}),
    config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
    layers: layers.map((layer) => ({ mediaType: OCI_LAYER, digest: sha256(layer), size: layer.length })),
    ...(options.subject ? { subject: options.subject } : {}),
  };
  const manifest = Buffer.from(JSON.stringify(document));
  const put = await fetch(`${url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { ...headers, 'content-type': OCI_MANIFEST } });
  if (put.status !== 201) throw new Error(`PUT manifest: ${put.status} ${await put.text()}`);
  return { manifest, digest: sha256(manifest), config, layers };
}

export async function errorCode(response: Response): Promise<string | undefined> {
  const body = (await response.json()) as { errors?: Array<{ code: string }> };
  return body.errors?.[0]?.code;
}

/** A response's JSON body, loosely typed for assertions. */
export async function json(response: Response): Promise<any> {
  return response.json();
}
