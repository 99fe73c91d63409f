/**
 * `sliceOf` (src/http/range.ts): a Range answered from a blob the pull-through cache is still
 * fetching. The exact bytes asked for, whatever the chunking; the last of them only once the source
 * ends (the download stored and verified), and never when the source fails (a cut or forged blob).
 */
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { sliceOf } from '../../../src/http/range.js';

const collect = (stream: NodeJS.ReadableStream) => {
  const parts: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => parts.push(chunk));
  return { bytes: () => Buffer.concat(parts), parts };
};

describe('sliceOf', () => {
  const blob = randomBytes(10_000);
  const chunked = (size: number) => Array.from({ length: Math.ceil(blob.length / size) }, (_, index) => blob.subarray(index * size, (index + 1) * size));

  it.each([
    [0, 9_999, 1000],
    [10, 99, 64],
    [999, 1000, 1000],
    [9_900, 9_999, 333],
    [5_000, 5_000, 1],
  ])('bytes %i-%i from %i-byte chunks', async (start, end, size) => {
    const source = new PassThrough();
    const slice = sliceOf(source, start, end);
    const seen = collect(slice);
    const ended = new Promise((resolve) => slice.on('end', resolve));
    for (const chunk of chunked(size)) source.write(chunk);
    await new Promise((resolve) => setImmediate(resolve));
    // Every byte of the blob went in, but the source has not ended: the range's last bytes wait.
    expect(seen.bytes().length).toBeLessThan(end - start + 1);
    source.end();
    await ended;
    expect(seen.bytes().equals(blob.subarray(start, end + 1))).toBe(true);
  });

  it('fails, without its last bytes, when the source fails', async () => {
    const source = new PassThrough();
    const slice = sliceOf(source, 0, 99);
    const seen = collect(slice);
    const failed = new Promise<Error>((resolve) => slice.on('error', resolve));
    source.write(blob.subarray(0, 100));
    source.write(blob.subarray(100, 200));
    source.destroy(new Error('the digest did not match'));
    expect((await failed).message).toBe('the digest did not match');
    expect(seen.bytes().length).toBeLessThan(100);
  });
});
