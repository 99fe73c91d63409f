/**
 * One repository: its tags (newest push first) with kind, platforms, size, digest and push time,
 * pull commands, and a delete button per tag only when the viewer may delete here.
 */
import { attachmentBadges, digestCode, formatBytes, formatCount, formatPlatform, formatPusher, kindBadge, time } from '../format.js';
import { html, url } from '../html.js';
import { csrfField, renderPage, type AssetUrls, type Viewer } from '../layout.js';
import type { RepositoryDetail, TagSort, TagSummary } from '../../browse/repository-insights.js';
import { pager, range } from './pager.js';
import { sortOptions } from './repositories.js';
import { pullCommands, pullPanel, pushPanel, type PullTarget } from './pull.js';
import { mirrorLine, type MirrorNote } from './mirror.js';

export interface RepositoryView {
  viewer: Viewer;
  assets: AssetUrls;
  detail: RepositoryDetail;
  pull: PullTarget;
  canDelete: boolean;
  query: string;
  sort: TagSort;
  /** A tag just deleted, to confirm in words. */
  deleted?: string;
  /** How many manifests a cleanup just removed. */
  removed?: number;
  /** Where the repository is mirrored from (extensions.sync), when it is. */
  mirror?: MirrorNote;
}

/** A platform that may break after each slash (`linux/<wbr>amd64`), so a size note keeps its column narrow. */
function breakable(platform: string) {
  return platform.split('/').map((part, i) => html`${i > 0 && html`/<wbr>`}${part}`);
}

function tagRow(view: RepositoryView, tag: TagSummary) {
  const name = view.detail.name;
  const platforms = tag.platforms.map(formatPlatform).join(', ');
  return html`<tr>
    <th scope="row"><a href="${url('/image', { name, ref: tag.tag })}">${tag.tag}</a></th>
    <td data-label="Kind">${kindBadge(tag.kind)}${tag.artifactType && html` <span class="muted small wrap">${tag.artifactType}</span>`}${attachmentBadges(tag.attachments)}</td>
    <td data-label="Platforms">${platforms || html`<span class="muted">—</span>`}</td>
    <td class="number" data-label="Size">${
      tag.pulled
        ? html`${formatBytes(tag.pulled.size)}<span class="muted small"> (${breakable(formatPlatform(tag.pulled.platform))})</span><br><span class="muted small">all platforms ${formatBytes(tag.size)}</span>`
        : formatBytes(tag.size)
    }</td>
    <td data-label="Digest">${digestCode(tag.digest)}</td>
    <td data-label="Pushed">${time(tag.pushed)}${tag.pushedBy && html` <span class="pusher wrap">by ${formatPusher(tag.pushedBy)}</span>`}</td>
    <td class="actions">
      ${pullCommands(view.pull, name, tag.tag).map(
        ({ tool, command }) => html`<button type="button" class="button button-small" data-copy="${command}" aria-label="Copy ${tool} pull command for ${tag.tag}" hidden>${tool} pull</button>`,
      )}
      ${pullCommands(view.pull, name, tag.digest)
        .filter(({ tool }) => tool === 'podman')
        .map(
          ({ command }) => html`<button type="button" class="button button-small" data-copy="${command}" aria-label="Copy podman pull by digest command for ${tag.tag}" hidden>pull by digest</button>`,
        )}
      ${
        view.canDelete &&
        html`<form method="post" action="${url('/repository/delete-tag', { name, tag: tag.tag })}" class="inline" data-confirm="Delete the tag ${tag.tag} from ${name}?">
        ${csrfField(view.viewer)}<button type="submit" class="button button-small button-danger" aria-label="Delete tag ${tag.tag}">Delete</button>
      </form>`
      }
    </td>
  </tr>`;
}

/** What untagged means, and for those who may delete: removing them, or the whole repository once it has no tags. */
function cleanup(view: RepositoryView) {
  const { detail } = view;
  const name = detail.name;
  return html`${
    detail.untagged > 0 &&
    html`<p class="muted small">Untagged manifests are images no tag points to any more (a tag was moved or deleted); only their digest still pulls them. The platforms of a tagged multi-platform index and signatures, SBOMs or attestations are not counted.</p>`
  }
${
  view.canDelete &&
  detail.untagged > 0 &&
  html`<form method="post" action="${url('/repository/delete-untagged', { name })}" class="inline" data-confirm="Delete the ${formatCount(detail.untagged, 'untagged manifest')} of ${name}?">
  ${csrfField(view.viewer)}<button type="submit" class="button button-small button-danger">Delete untagged</button>
</form>`
}
${
  view.canDelete &&
  detail.tagCount === 0 &&
  html`<form method="post" action="${url('/repository/delete', { name })}" class="inline" data-confirm="Delete the repository ${name}, every manifest and blob in it?">
  ${csrfField(view.viewer)}<button type="submit" class="button button-small button-danger">Delete repository</button>
</form>`
}`;
}

const TAG_SORT_LABELS: Record<TagSort, string> = { pushed: 'newest push first', '-pushed': 'oldest push first', name: 'name, A to Z', '-name': 'name, Z to A' };

export function renderRepository(view: RepositoryView): string {
  const { detail, query, sort } = view;
  const main = html`<nav aria-label="Breadcrumb" class="crumbs"><a href="/repositories">Repositories</a> / <span aria-current="page">${detail.name}</span></nav>
<h1>${detail.name}</h1>
<p class="muted">${formatCount(detail.tagCount, 'tag')} · ${formatBytes(detail.size)} · last push ${time(detail.lastPush)}${detail.untagged > 0 && ` · ${formatCount(detail.untagged, 'untagged manifest')}`}${detail.attachedTags > 0 && ` · ${formatCount(detail.attachedTags, 'cosign signature or attestation tag')}, shown with the image each belongs to`}</p>
${view.mirror && mirrorLine(view.mirror)}
${view.deleted && html`<p class="notice" role="status">The tag ${view.deleted} was deleted.</p>`}
${view.removed !== undefined && html`<p class="notice" role="status">${formatCount(view.removed, 'manifest')} deleted; garbage collection frees their blobs later.</p>`}
${cleanup(view)}
${detail.pullTag !== undefined && pullPanel(view.pull, detail.name, detail.pullTag, detail.pullTag === 'latest' ? 'the default tag' : 'the newest tag (this repository has no latest)')}
${detail.tagCount === 0 && pushPanel(view.pull, detail.name, 'This repository has no tags yet: push one.')}
<section aria-labelledby="tags-title">
  <h2 id="tags-title">Tags</h2>
  <form method="get" action="/repository" class="toolbar" role="search">
    <input type="hidden" name="name" value="${detail.name}">
    <label for="tag-filter" class="visually-hidden">Filter tags</label>
    <input id="tag-filter" name="q" type="search" value="${query}" placeholder="Filter tags" maxlength="128">
    <label for="tag-sort">Sort by</label>
    <select id="tag-sort" name="sort">${sortOptions(TAG_SORT_LABELS, sort)}</select>
    <button type="submit" class="button">Apply</button>
  </form>
  ${
    detail.tags.total === 0
      ? html`<p class="empty">${query ? 'No tag matches this filter.' : 'This repository has no tags.'}</p>`
      : html`<p class="muted">Tags ${range(detail.tags)}</p>
  <div class="table-wrap" role="region" aria-label="Tag table" tabindex="0"><table class="tags">
    <thead><tr><th scope="col">Tag</th><th scope="col">Kind</th><th scope="col">Platforms</th><th scope="col" class="number">Size</th><th scope="col">Digest</th><th scope="col">Pushed</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
    <tbody>${detail.tags.items.map((tag) => tagRow(view, tag))}</tbody>
  </table></div>`
  }
  ${pager(detail.tags, '/repository', { name: detail.name, q: query || undefined, sort: sort === 'pushed' ? undefined : sort }, 'Tag pages')}
</section>`;
  return renderPage({ title: detail.name, viewer: view.viewer, assets: view.assets, current: 'repositories', here: url('/repository', { name: detail.name }), main });
}
