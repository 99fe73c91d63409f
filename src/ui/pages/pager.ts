/** Previous / next links for a paged list, keeping the list's other query parameters. */
import { html, url, type SafeHtml } from '../html.js';
import type { PageOf } from '../../browse/repository-insights.js';

export function pager(page: PageOf<unknown>, path: string, query: Record<string, string | undefined>, label: string): SafeHtml {
  if (page.pages <= 1) return html``;
  const link = (target: number) => url(path, { ...query, page: target === 1 ? undefined : target });
  return html`<nav class="pager" aria-label="${label}">
    ${page.page > 1 ? html`<a href="${link(page.page - 1)}" rel="prev">← Previous</a>` : html`<span aria-hidden="true"></span>`}
    <span>Page ${page.page} of ${page.pages}</span>
    ${page.page < page.pages ? html`<a href="${link(page.page + 1)}" rel="next">Next →</a>` : html`<span aria-hidden="true"></span>`}
  </nav>`;
}

/** "1–50 of 2,000" */
export function range(page: PageOf<unknown>): string {
  if (page.total === 0) return '0';
  const first = (page.page - 1) * page.perPage + 1;
  const last = first + page.items.length - 1;
  return `${first.toLocaleString('en')}–${last.toLocaleString('en')} of ${page.total.toLocaleString('en')}`;
}
