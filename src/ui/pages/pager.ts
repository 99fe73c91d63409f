/**
 * The pager of a paged list: previous / next, the first, last and nearby page numbers
 * (1 … 4 5 [6] 7 8 … 40), and a small GET form to jump to a page, each keeping the list's other
 * query parameters. A page number past the end is clamped by `paginate` (the last page is shown,
 * and says which it is), so a stale bookmark still lands somewhere sensible.
 */
import { html, url, type SafeHtml } from '../html.js';
import type { PageOf } from '../../browse/repository-insights.js';

/** Page numbers shown on each side of the current one. */
const NEARBY = 2;

/** The page numbers to show, in order, `undefined` where a run of pages is left out. */
export function pageNumbers(current: number, pages: number): Array<number | undefined> {
  const shown = new Set([1, pages]);
  for (let page = current - NEARBY; page <= current + NEARBY; page += 1) if (page >= 1 && page <= pages) shown.add(page);
  const sorted = [...shown].sort((a, b) => a - b);
  return sorted.flatMap((page, i) => (i > 0 && page - sorted[i - 1]! > 1 ? [undefined, page] : [page]));
}

export function pager(page: PageOf<unknown>, path: string, query: Record<string, string | undefined>, label: string): SafeHtml {
  if (page.pages <= 1) return html``;
  const link = (target: number) => url(path, { ...query, page: target === 1 ? undefined : target });
  const jump = `${label.toLowerCase().replace(/[^a-z]+/g, '-')}-jump`;
  return html`<nav class="pager" aria-label="${label}">
    ${page.page > 1 ? html`<a href="${link(page.page - 1)}" rel="prev">← Previous</a>` : html`<span aria-hidden="true"></span>`}
    <span class="visually-hidden">Page ${page.page} of ${page.pages}</span>
    <ol class="page-numbers">${pageNumbers(page.page, page.pages).map((number) =>
      number === undefined
        ? html`<li aria-hidden="true">…</li>`
        : html`<li><a href="${link(number)}" aria-label="Page ${number}"${number === page.page && html` aria-current="page"`}>${number}</a></li>`,
    )}</ol>
    ${page.page < page.pages ? html`<a href="${link(page.page + 1)}" rel="next">Next →</a>` : html`<span aria-hidden="true"></span>`}
    <form method="get" action="${path}" class="page-jump">
      ${Object.entries(query).map(([key, value]) => value !== undefined && value !== '' && html`<input type="hidden" name="${key}" value="${value}">`)}
      <label for="${jump}">Go to page</label>
      <input id="${jump}" name="page" type="number" inputmode="numeric" min="1" max="${page.pages}" value="${page.page}" required>
      <button type="submit" class="button button-small">Go</button>
    </form>
  </nav>`;
}

/** "1–50 of 2,000" */
export function range(page: PageOf<unknown>): string {
  if (page.total === 0) return '0';
  const first = (page.page - 1) * page.perPage + 1;
  const last = first + page.items.length - 1;
  return `${first.toLocaleString('en')}–${last.toLocaleString('en')} of ${page.total.toLocaleString('en')}`;
}
