/** The `n` / `last` pagination query of tags and catalog listings, and its `Link` header. */
import type { Page } from '../../registry/listings.js';

/** `as const` so the type provider (JsonSchemaToTsProvider) reads `n?: number; last?: string` from it. */
export const listingQuerySchema = {
  type: 'object',
  properties: {
    n: { type: 'integer', minimum: 0 },
    last: { type: 'string', maxLength: 256 },
  },
} as const;

/** RFC 8288 link to the next page, keeping the caller's `n`. */
export function nextLink(path: string, page: Page, n: number | undefined): string | undefined {
  if (page.next === undefined) return undefined;
  const query = new URLSearchParams({ ...(n !== undefined ? { n: String(n) } : {}), last: page.next });
  return `<${path}?${query.toString()}>; rel="next"`;
}
