import { describe, expect, it } from 'vitest';
import { MAX_PAGE, paginate } from '../../../src/registry/listings.js';

describe('paginate', () => {
  const items = ['a', 'b', 'c', 'd', 'e'];
  it('returns everything without n', () => expect(paginate(items, undefined, undefined)).toEqual({ items }));
  it('pages with n and names the next last', () => {
    expect(paginate(items, 2, undefined)).toEqual({ items: ['a', 'b'], next: 'b' });
    expect(paginate(items, 2, 'b')).toEqual({ items: ['c', 'd'], next: 'd' });
    expect(paginate(items, 2, 'd')).toEqual({ items: ['e'] });
  });
  it('starts after a last that is not in the list', () => expect(paginate(items, 10, 'bb')).toEqual({ items: ['c', 'd', 'e'] }));
  it('returns nothing for n=0', () => expect(paginate(items, 0, undefined)).toEqual({ items: [] }));
  it('caps a huge n', () => {
    const many = Array.from({ length: MAX_PAGE + 5 }, (_, i) => `t${String(i).padStart(6, '0')}`);
    const page = paginate(many, Number.MAX_SAFE_INTEGER, undefined);
    expect(page.items).toHaveLength(MAX_PAGE);
    expect(page.next).toBe(many[MAX_PAGE - 1]);
  });
});
