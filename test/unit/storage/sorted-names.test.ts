/** The catalog's sorted names (src/storage/sorted-names.ts). */
import { describe, expect, it } from 'vitest';
import { firstAfter, SortedNames } from '../../../src/storage/sorted-names.js';

describe('SortedNames', () => {
  it('sorts once, drops duplicates and freezes what it hands out', () => {
    const names = new SortedNames(['b', 'a/c', 'a', 'b']);
    expect(names.all).toEqual(['a', 'a/c', 'b']);
    expect(Object.isFrozen(names.all)).toBe(true);
  });

  it('adds in order by replacing the array, so a caller holding the old one sees no change', () => {
    const names = new SortedNames(['a', 'c']);
    const before = names.all;
    names.add('b');
    names.add('b');
    names.add('0');
    names.add('d');
    expect(names.all).toEqual(['0', 'a', 'b', 'c', 'd']);
    expect(before).toEqual(['a', 'c']);
  });

  it('finds the first name after any string', () => {
    const sorted = ['a', 'b', 'b/x', 'c'];
    expect(firstAfter(sorted, '')).toBe(0);
    expect(firstAfter(sorted, 'a')).toBe(1);
    expect(firstAfter(sorted, 'b')).toBe(2);
    expect(firstAfter(sorted, 'bb')).toBe(3);
    expect(firstAfter(sorted, 'z')).toBe(4);
  });
});
