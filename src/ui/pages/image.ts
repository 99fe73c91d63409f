/**
 * One manifest, by tag or digest. An index lists its platforms (each links to its image); an image
 * shows its config (os/arch, created, entrypoint, env, labels), layers with sizes and the history
 * that made them; every manifest shows its annotations and the referrers (signatures, SBOMs,
 * attestations) that point at it. Every value here comes from the image's author: all escaped.
 */
import { attachmentBadges, digestCode, formatBytes, formatCount, formatPlatform, formatPusher, kindBadge, shortDigest, time } from '../format.js';
import { html, url, type HtmlValue, type SafeHtml } from '../html.js';
import { renderPage, type AssetUrls, type Viewer } from '../layout.js';
import type { ImageDetail } from '../../browse/repository-insights.js';
import { copyable, pullPanel, type PullTarget } from './pull.js';
import { mirrorLine, type MirrorNote } from './mirror.js';

export interface ImageView {
  viewer: Viewer;
  assets: AssetUrls;
  detail: ImageDetail;
  /** The tag or digest the page was asked for. */
  reference: string;
  pull: PullTarget;
  /** Where the repository is mirrored from (extensions.sync), when it is. */
  mirror?: MirrorNote;
}

function definitions(rows: Array<[string, HtmlValue]>): SafeHtml {
  const shown = rows.filter(([, value]) => value !== undefined && value !== '' && !(Array.isArray(value) && value.length === 0));
  return html`<dl class="facts">${shown.map(([term, value]) => html`<dt>${term}</dt><dd>${value}</dd>`)}</dl>`;
}

/** Labels and annotations whose value is where the image comes from or is documented (image-spec annotations.md). */
const LINK_KEYS = new Set(['org.opencontainers.image.source', 'org.opencontainers.image.url', 'org.opencontainers.image.documentation']);

/** `value` as a link when it is an http(s) URL under one of LINK_KEYS; anything else (javascript:, data:, ...) stays text. */
export function labelValue(key: string, value: string): SafeHtml {
  const text = html`<code class="wrap">${value}</code>`;
  if (!LINK_KEYS.has(key) || !URL.canParse(value)) return text;
  const target = new URL(value);
  if (target.protocol !== 'https:' && target.protocol !== 'http:') return text;
  return html`<a href="${target.href}" rel="noopener noreferrer nofollow">${text}</a>`;
}

function keyValues(
  title: string,
  id: string,
  entries: Array<[string, string]>,
  empty: string,
  show: (key: string, value: string) => SafeHtml = (_key, value) => html`<code class="wrap">${value}</code>`,
): SafeHtml {
  return html`<section aria-labelledby="${id}">
  <h2 id="${id}">${title}</h2>
  ${
    entries.length === 0
      ? html`<p class="muted">${empty}</p>`
      : html`<div class="table-wrap" role="region" aria-label="${title} table" tabindex="0"><table class="pairs"><tbody>${entries.map(([key, value]) => html`<tr><th scope="row"><code>${key}</code></th><td>${show(key, value)}</td></tr>`)}</tbody></table></div>`
  }
</section>`;
}

function imageLink(name: string, digest: string, text: HtmlValue = digestCode(digest)): SafeHtml {
  return html`<a href="${url('/image', { name, ref: digest })}">${text}</a>`;
}

function platforms(detail: ImageDetail): SafeHtml {
  return html`<section aria-labelledby="platforms-title">
  <h2 id="platforms-title">Platforms</h2>
  <div class="table-wrap" role="region" aria-label="Platform table" tabindex="0"><table>
    <thead><tr><th scope="col">Platform</th><th scope="col">Manifest</th><th scope="col">Kind</th><th scope="col" class="number">Size</th></tr></thead>
    <tbody>${detail.children.map(
      (child) => html`<tr>
        <th scope="row">${child.platform ? formatPlatform(child.platform) : html`<span class="muted">unspecified</span>`}${child.artifactType && html` <span class="muted small">${child.artifactType}</span>`}</th>
        <td data-label="Manifest">${imageLink(detail.repository, child.digest)}</td>
        <td data-label="Kind"><code class="small">${child.mediaType}</code></td>
        <td class="number" data-label="Size">${formatBytes(child.totalSize ?? child.size)}</td>
      </tr>`,
    )}</tbody>
  </table></div>
</section>`;
}

function config(detail: ImageDetail): SafeHtml {
  const details = detail.config?.details;
  if (!details) return html``;
  const platform = details.os && details.architecture ? formatPlatform({ os: details.os, architecture: details.architecture, ...(details.variant ? { variant: details.variant } : {}) }) : undefined;
  const command = (parts: string[] | undefined) => (parts && parts.length > 0 ? html`<code class="wrap">${JSON.stringify(parts)}</code>` : undefined);
  const env = details.env.map((line): [string, string] => {
    const equals = line.indexOf('=');
    return equals < 0 ? [line, ''] : [line.slice(0, equals), line.slice(equals + 1)];
  });
  return html`<section aria-labelledby="config-title">
  <h2 id="config-title">Configuration</h2>
  ${definitions([
    ['Platform', platform],
    ['Created', details.created ? time(details.created) : undefined],
    ['Author', details.author],
    ['Entrypoint', command(details.entrypoint)],
    ['Command', command(details.cmd)],
    ['Working directory', details.workingDir],
    ['User', details.user],
    ['Exposed ports', details.exposedPorts.join(', ')],
    ['Config', digestCode(detail.config!.digest)],
  ])}
</section>
${keyValues('Environment', 'env-title', env, 'No environment variables.')}
${keyValues('Labels', 'labels-title', Object.entries(details.labels), 'No labels.', labelValue)}`;
}

function layers(detail: ImageDetail): SafeHtml {
  if (detail.kind === 'index') return html``;
  const title = detail.kind === 'artifact' ? 'Blobs' : 'Layers';
  return html`<section aria-labelledby="layers-title">
  <h2 id="layers-title">${title} <span class="muted small">${formatCount(detail.layers.length, detail.kind === 'artifact' ? 'blob' : 'layer')}, ${formatBytes(detail.layers.reduce((total, layer) => total + layer.size, 0))}</span></h2>
  ${
    detail.layers.length === 0
      ? html`<p class="muted">None.</p>`
      : html`<div class="table-wrap" role="region" aria-label="${title} table" tabindex="0"><table class="layers">
    <thead><tr><th scope="col">#</th><th scope="col">Digest</th><th scope="col" class="number">Size</th><th scope="col">${detail.kind === 'artifact' ? 'Title' : 'Created by'}</th></tr></thead>
    <tbody>${detail.layers.map(
      (layer, i) => html`<tr>
        <td data-label="#">${i + 1}</td>
        <td data-label="Digest">${digestCode(layer.digest)}<br><span class="muted small">${layer.mediaType}</span></td>
        <td class="number" data-label="Size">${formatBytes(layer.size)}</td>
        <td class="cell-long" data-label="${detail.kind === 'artifact' ? 'Title' : 'Created by'}"><code class="wrap">${layer.history?.createdBy ?? layer.annotations?.['org.opencontainers.image.title'] ?? ''}</code></td>
      </tr>`,
    )}</tbody>
  </table></div>`
  }
  ${
    detail.history.length > 0 &&
    html`<details><summary>Full history (${formatCount(detail.history.length, 'step')})</summary><ol class="history">${detail.history.map(
      (step) =>
        html`<li><code class="wrap">${step.createdBy ?? step.comment ?? ''}</code>${step.emptyLayer && html` <span class="muted small">(no layer)</span>`}${step.created && html` <span class="muted small">${time(step.created)}</span>`}</li>`,
    )}</ol></details>`
  }
</section>`;
}

function referrers(detail: ImageDetail): SafeHtml {
  return html`<section aria-labelledby="referrers-title">
  <h2 id="referrers-title">Referrers</h2>
  ${
    detail.referrers.length === 0
      ? html`<p class="muted">No signatures, SBOMs or attestations refer to this manifest.</p>`
      : html`<div class="table-wrap" role="region" aria-label="Referrer table" tabindex="0"><table>
    <thead><tr><th scope="col">Artifact type</th><th scope="col">Manifest</th><th scope="col" class="number">Size</th><th scope="col">Pushed</th></tr></thead>
    <tbody>${detail.referrers.map(
      (referrer) => html`<tr>
        <th scope="row"><code class="wrap">${referrer.artifactType ?? referrer.mediaType}</code></th>
        <td data-label="Manifest">${imageLink(detail.repository, referrer.digest)}</td>
        <td class="number" data-label="Size">${formatBytes(referrer.size)}</td>
        <td data-label="Pushed">${time(referrer.pushed)}</td>
      </tr>`,
    )}</tbody>
  </table></div>`
  }
</section>`;
}

export function renderImage(view: ImageView): string {
  const { detail, reference } = view;
  const name = detail.repository;
  const isDigest = reference.includes(':');
  const heading = isDigest ? `${name}@${shortDigest(reference)}` : `${name}:${reference}`;
  const main = html`<nav aria-label="Breadcrumb" class="crumbs"><a href="/repositories">Repositories</a> / <a href="${url('/repository', { name })}">${name}</a> / <span aria-current="page">${isDigest ? shortDigest(reference) : reference}</span></nav>
<h1 class="wrap">${heading}</h1>
${view.mirror && mirrorLine(view.mirror)}
<section class="card" aria-labelledby="summary-title">
  <h2 id="summary-title" class="visually-hidden">Summary</h2>
  ${definitions([
    ['Kind', kindBadge(detail.kind)],
    ['Digest', copyable(detail.digest, 'Copy the digest')],
    ['Media type', html`<code>${detail.mediaType}</code>`],
    ['Artifact type', detail.artifactType ? html`<code>${detail.artifactType}</code>` : undefined],
    [
      'Size',
      detail.pulled
        ? `${formatBytes(detail.pulled.size)} pulled on ${formatPlatform(detail.pulled.platform)}; ${formatBytes(detail.totalSize)} for all platforms (index ${formatBytes(detail.size)})`
        : `${formatBytes(detail.totalSize)} (manifest ${formatBytes(detail.size)})`,
    ],
    ['Pushed', detail.pushed ? html`${time(detail.pushed)}${detail.pushedBy && ` by ${formatPusher(detail.pushedBy)}`}` : undefined],
    ['Tags', detail.tags.length > 0 ? detail.tags.map((tag, i) => html`${i > 0 && ', '}<a href="${url('/image', { name, ref: tag })}">${tag}</a>`) : undefined],
    [
      'Attached',
      detail.attachments.length > 0
        ? html`${detail.attachments.map(
            (attachment, i) => html`${i > 0 && ' '}<a href="${url('/image', { name, ref: attachment.tag ?? attachment.digest })}" class="badge-link">${attachmentBadges([attachment])}</a>`,
          )} <span class="muted small">present, not verified</span>`
        : undefined,
    ],
    ['Refers to', detail.subject ? imageLink(name, detail.subject) : undefined],
    ['Part of', detail.parents.length > 0 ? detail.parents.map((parent, i) => html`${i > 0 && ', '}${imageLink(name, parent)}`) : undefined],
  ])}
</section>
${pullPanel(view.pull, name, isDigest ? detail.digest : reference)}
${detail.kind === 'index' && platforms(detail)}
${config(detail)}
${layers(detail)}
${keyValues('Annotations', 'annotations-title', Object.entries(detail.annotations), 'No annotations.', labelValue)}
${referrers(detail)}`;
  return renderPage({ title: heading, viewer: view.viewer, assets: view.assets, current: 'repositories', here: url('/image', { name, ref: reference }), main });
}
