/** The pager's page numbers: first, last and two on each side of the current one (src/ui/pages/pager.ts). */
import { describe, expect, it } from 'vitest';
import { pageNumbers } from '../../../src/ui/pages/pager.js';

describe('pageNumbers', () => {
  it('shows 1 … 4 5 [6] 7 8 … 40', () => {
    expect(pageNumbers(6, 40)).toEqual([1, undefined, 4, 5, 6, 7, 8, undefined, 40]);
  });
  it('leaves no gap where none is', () => {
    expect(pageNumbers(1, 3)).toEqual([1, 2, 3]);
    expect(pageNumbers(4, 7)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(pageNumbers(1, 40)).toEqual([1, 2, 3, undefined, 40]);
    expect(pageNumbers(40, 40)).toEqual([1, undefined, 38, 39, 40]);
  });
});
