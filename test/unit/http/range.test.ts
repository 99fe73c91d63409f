import { describe, expect, it } from 'vitest';
import { parseContentRange, parseRange } from '../../../src/http/range.js';
import { RegistryError } from '../../../src/oci/errors.js';

describe('Range on blob GET', () => {
  it.each([
    ['bytes=0-9', 100, { start: 0, end: 9 }],
    ['bytes=10-', 100, { start: 10, end: 99 }],
    ['bytes=-10', 100, { start: 90, end: 99 }],
    ['bytes=-1000', 100, { start: 0, end: 99 }],
    ['bytes=90-1000', 100, { start: 90, end: 99 }],
  ] as const)('%s of %d bytes', (header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });
  it('is absent without a header', () => expect(parseRange(undefined, 10)).toBeUndefined());
  it.each(['bytes=100-', 'bytes=5-2', 'bytes=-0', 'bytes=-', 'items=0-1', 'bytes=0-1,3-4', 'bytes=a-b'])('refuses %s with RANGE_INVALID', (header) => {
    expect(() => parseRange(header, 100)).toThrow(RegistryError);
    try {
      parseRange(header, 100);
    } catch (error) {
      expect((error as RegistryError).status).toBe(416);
    }
  });
});

describe('Content-Range on upload PATCH', () => {
  it('returns the start', () => {
    expect(parseContentRange('0-99', 100)).toBe(0);
    expect(parseContentRange('100-199', undefined)).toBe(100);
    expect(parseContentRange('bytes 5-9/*', 5)).toBe(5);
  });
  it('refuses a length that does not match Content-Length', () => {
    expect(() => parseContentRange('0-99', 50)).toThrow(/invalid content range/);
  });
  it.each(['x', '5-2', '-5', '1-'])('refuses %s', (header) => expect(() => parseContentRange(header, undefined)).toThrow(RegistryError));
});
