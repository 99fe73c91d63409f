/** HTTP byte ranges: `Range` on blob GET (RFC 9110 §14) and `Content-Range` on upload PATCH. */
import { Transform, type Readable } from 'node:stream';
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

/**
 * The bytes `start`..`end` (inclusive) of a blob arriving as `body`, for a Range asked of a blob
 * the pull-through cache is still fetching. The range's last bytes are held back until `body`
 * ends, which it does only once the whole blob is stored and its digest checked (and with an error
 * if not): a range of a forged or cut blob is never answered as complete. What comes after the
 * range is read and dropped, so the response ends with the download.
 */
export function sliceOf(body: Readable, start: number, end: number): Readable {
  let position = 0;
  let held: Buffer | undefined;
  const slice = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const from = Math.max(start - position, 0);
      const to = Math.min(end + 1 - position, chunk.length);
      position += chunk.length;
      if (from < to) {
        if (held) this.push(held);
        held = chunk.subarray(from, to);
      }
      done();
    },
    flush(done) {
      if (held) this.push(held);
      done();
    },
  });
  body.on('error', (error) => slice.destroy(error));
  slice.on('close', () => {
    if (!body.readableEnded) body.destroy();
  });
  return body.pipe(slice);
}
