/** HTTP byte ranges: `Range` on blob GET (RFC 9110 §14) and `Content-Range` on upload PATCH. */
import { RegistryError } from '../oci/errors.js';

/**
 * The inclusive range a `Range: bytes=...` header asks of a blob of `size` bytes, or undefined when
 * there is no header. Only one range is served; a malformed or unsatisfiable one is RANGE_INVALID.
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) throw new RegistryError('RANGE_INVALID', { range: header, size });
  let start: number;
  let end: number;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) throw new RegistryError('RANGE_INVALID', { range: header, size });
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (!Number.isSafeInteger(start) || start >= size || end < start) throw new RegistryError('RANGE_INVALID', { range: header, size });
  return { start, end };
}

/** The start offset a chunk's `Content-Range: <start>-<end>` names; its length must match Content-Length. */
export function parseContentRange(header: string | undefined, contentLength: number | undefined): number | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!match) throw new RegistryError('RANGE_INVALID', { contentRange: header });
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start || (contentLength !== undefined && contentLength !== end - start + 1)) {
    throw new RegistryError('RANGE_INVALID', { contentRange: header, contentLength });
  }
  return start;
}
