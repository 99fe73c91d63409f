import { describe, expect, it } from 'vitest';
import { explainInvalidName, isValidName, isValidTag } from '../../../src/oci/names.js';
import { parseDigest } from '../../../src/oci/digest.js';

describe('repository names', () => {
  it.each(['a', 'library/alpine', 'a/b/c/d', 'my-app', 'my__app', 'a.b', 'a--b', 'x0', '0x/y.z_w'])('accepts %s', (name) => {
    expect(explainInvalidName(name)).toBeUndefined();
  });
  it.each(['', 'A', 'a/', '/a', 'a//b', '-a', 'a-', 'a..b', 'a___b', '.a', '../x', 'a/../b', 'a\\b', 'a b', 'é', 'a/blobs', 'a/blobs/b', 'x/index.json', 'cache.db', `${'a'.repeat(256)}`, '_catalog'])(
    'refuses %j',
    (name) => {
      expect(isValidName(name)).toBe(false);
    },
  );
});

describe('tags', () => {
  it.each(['latest', 'v1.0.0', '_x', 'A-b_c.d', 'a'.repeat(128)])('accepts %s', (tag) => expect(isValidTag(tag)).toBe(true));
  it.each(['', '.x', '-x', 'a'.repeat(129), 'a/b', 'a:b', 'a b'])('refuses %j', (tag) => expect(isValidTag(tag)).toBe(false));
});

describe('digests', () => {
  const hex256 = 'a'.repeat(64);
  it('parses sha256 and sha512', () => {
    expect(parseDigest(`sha256:${hex256}`)).toEqual({ algorithm: 'sha256', hex: hex256, value: `sha256:${hex256}` });
    expect(parseDigest(`sha512:${'b'.repeat(128)}`)?.algorithm).toBe('sha512');
  });
  it.each([`sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`, `sha512:${hex256}`, `md5:${hex256}`, hex256, `sha256:../${'a'.repeat(61)}`, 'sha256:'])('refuses %j', (value) => {
    expect(parseDigest(value)).toBeUndefined();
  });
});
