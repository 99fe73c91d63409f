/** Request bodies for the registry: streamed for blobs, bounded and buffered for manifests. */
import type { FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { RegistryError } from '../oci/errors.js';

export function contentLength(request: FastifyRequest): number | undefined {
  const header = request.headers['content-length'];
  if (header === undefined) return undefined;
  const value = Number(header);
  if (!Number.isSafeInteger(value) || value < 0) throw new RegistryError('SIZE_INVALID', { contentLength: header });
  return value;
}

/** The body as a stream when the request has one (Content-Length > 0 or chunked), else undefined. */
export function bodyStream(request: FastifyRequest): Readable | undefined {
  const length = contentLength(request);
  if (length === 0 || (length === undefined && request.headers['transfer-encoding'] === undefined)) return undefined;
  return request.raw;
}

/** Reads at most `limit` bytes; a longer body fails with `tooLarge` before it is all read. */
export async function readBounded(request: FastifyRequest, limit: number, tooLarge: 'MANIFEST_TOO_LARGE' | 'BODY_TOO_LARGE'): Promise<Buffer> {
  const length = contentLength(request);
  if (length !== undefined && length > limit) throw new RegistryError(tooLarge, { limit, contentLength: length });
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of request.raw as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw new RegistryError(tooLarge, { limit });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
