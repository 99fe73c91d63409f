/** Request bodies: streamed for blobs, bounded and buffered for manifests, fields of the UI's form posts. */
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

/**
 * Reads at most `limit` bytes of a body that must arrive within `deadlineMs`: a longer body fails
 * with `tooLarge`, a late one with REQUEST_TIMEOUT, before it is all read. The stream is then paused,
 * not destroyed, so the error can still be answered (on a connection that then closes).
 */
export function readWithin(body: Readable, limit: number, deadlineMs: number, tooLarge: 'MANIFEST_TOO_LARGE' | 'BODY_TOO_LARGE'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const settle = (error: Error | undefined) => {
      clearTimeout(timer);
      body.off('data', onData).off('end', onEnd).off('error', settle);
      if (error) {
        body.pause();
        reject(error);
      } else {
        resolve(Buffer.concat(chunks, total));
      }
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) settle(new RegistryError(tooLarge, { limit }));
      else chunks.push(chunk);
    };
    const onEnd = () => settle(undefined);
    const timer = setTimeout(() => settle(new RegistryError('REQUEST_TIMEOUT', `the body did not arrive within ${deadlineMs / 1000} s`)), deadlineMs);
    body.on('data', onData).once('end', onEnd).once('error', settle);
  });
}

/** Reads at most `limit` bytes of the request's body, within the app's body deadline (body-time.ts). */
export async function readBounded(request: FastifyRequest, limit: number, tooLarge: 'MANIFEST_TOO_LARGE' | 'BODY_TOO_LARGE'): Promise<Buffer> {
  const length = contentLength(request);
  if (length !== undefined && length > limit) throw new RegistryError(tooLarge, { limit, contentLength: length });
  return readWithin(request.raw, limit, request.server.bodyTime.deadlineMs, tooLarge);
}

/**
 * A field of a UI form post. The body comes from the UI's url-encoded parser (routes/ui.ts: strings
 * only), but Fastify's JSON parser answers the same routes, and no schema checks form bodies (the
 * CSRF check, a preHandler, must answer before any validation would): anything but a string is absent.
 */
export function formField(request: FastifyRequest, name: string): string | undefined {
  const { body } = request;
  const value: unknown = typeof body === 'object' && body !== null ? Reflect.get(body, name) : undefined;
  return typeof value === 'string' ? value : undefined;
}
