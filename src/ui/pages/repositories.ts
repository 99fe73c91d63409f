/**
 * The repositories the viewer may read, searchable and sortable, one page at a time. The search
 * form works without JavaScript (a GET form); berth.js turns it into search-as-you-type over
 * /api/ui/repositories and redraws #results the same way (see the data-* hooks).
 */
import { formatBytes, formatCount, time } from '../format.js';
import { html, url } from '../html.js';
import { renderPage, type AssetUrls, type Viewer } from '../layout.js';
import type { PageOf, RepositorySort } from '../../browse/repository-insights.js';
import type { RepositoryFigures } from '../../browse/repository-figures.js';
import { pager, range } from './pager.js';
import { pushPanel, type PullTarget } from './pull.js';

// In this order, so the first ArrowDown from the default (name) is the other common choice, last push.
const REPOSITORY_SORT_LABELS: Record<RepositorySort, string> = {
  name: 'name, A to Z',
  pushed: 'last push, newest first',
  '-pushed': 'last push, oldest first',
  '-name': 'name, Z to A',
};

/** The options of a sort menu, the current one selected. */
export function sortOptions<S extends string>(labels: Record<S, string>, current: S) {
  return (Object.entries(labels) as Array<[S, string]>).map(([value, label]) => html`<option value="${value}" ${value === current && html`selected`}>${label}</option>`);
}

export interface RepositoriesView {
  viewer: Viewer;
  assets: AssetUrls;
  page: PageOf<RepositoryFigures>;
  query: string;
  sort: RepositorySort;
  pull: PullTarget;
  /** The repository just deleted (after the form post), for the notice. */
  deleted?: string;
}

export function repositoryItem(repository: RepositoryFigures) {
  return html`<li class="row">
    <a class="row-title" href="${url('/repository', { name: repository.name })}">${repository.name}</a>
    <span class="row-meta">${formatCount(repository.tagCount, 'tag')} · ${formatBytes(repository.size)} · last push ${time(repository.lastPush)}</span>
  </li>`;
}

export function renderRepositories(view: RepositoriesView): string {
  const { page, query, sort } = view;
  const main = html`<h1>Repositories</h1>
${view.deleted && html`<p class="notice" role="status">The repository ${view.deleted} was deleted.</p>`}
<form method="get" action="/repositories" class="toolbar" role="search" data-live-search>
  <label for="q" class="visually-hidden">Search repositories</label>
  <input id="q" name="q" type="search" value="${query}" placeholder="Search repositories" autocomplete="off" maxlength="256">
  <label for="sort">Sort by</label>
  <select id="sort" name="sort" data-live-sort>${sortOptions(REPOSITORY_SORT_LABELS, sort)}</select>
  <button type="submit" class="button">Search</button>
</form>
<p class="muted" id="result-count" aria-live="polite">${page.total === 0 ? 'No repositories' : `Repositories ${range(page)}`}${query && ` matching “${query}”`}</p>
<ul class="rows" id="results">${page.items.map(repositoryItem)}</ul>
${page.total === 0 && html`<p class="empty">${query ? 'Nothing matches this search.' : 'There is no repository you may read yet.'}</p>`}
${page.total === 0 && !query && pushPanel(view.pull, 'my-app', 'Push an image to create a repository; my-app can be any name you may push to.')}
<div id="pager">${pager(page, '/repositories', { q: query || undefined, sort: sort === 'name' ? undefined : sort }, 'Repository pages')}</div>`;
  return renderPage({ title: 'Repositories', viewer: view.viewer, assets: view.assets, current: 'repositories', here: url('/repositories', { q: query, sort }), main });
}
