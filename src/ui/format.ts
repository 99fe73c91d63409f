/** How numbers, times, digests and platforms are written on the pages (and by berth.js, identically). */
import { html, type SafeHtml } from './html.js';
import type { ManifestKind, Platform } from '../browse/manifest-insight.js';
import type { Attachment } from '../browse/attachments.js';

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** Decimal units, as docker and podman print image sizes. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

/**
 * Made and used once when the module loads: a process's first number formatted loads the locale's
 * data (15-50 ms), which the start should pay, not the first page.
 */
const COUNTS = new Intl.NumberFormat('en');
COUNTS.format(1234.5);

export function formatCount(count: number, singular: string, plural = `${singular}s`): string {
  return `${COUNTS.format(count)} ${count === 1 ? singular : plural}`;
}

/** `2024-01-02 03:04 UTC` in a <time> element: the same for every viewer, machine-readable too. */
export function time(when: string | Date | undefined): SafeHtml {
  if (when === undefined) return html`<span class="muted">unknown</span>`;
  const date = new Date(when);
  if (Number.isNaN(date.getTime())) return html`${String(when)}`;
  return html`<time datetime="${date.toISOString()}">${date.toISOString().slice(0, 16).replace('T', ' ')} UTC</time>`;
}

const PROOF_WORDS: Record<string, string> = { htpasswd: 'htpasswd', session: 'SSO', apikey: 'API key', workload: 'workload identity' };

/** Who pushed, as recorded at the push: `buildbot (htpasswd)`, `alice (API key)`. */
export function formatPusher(pusher: { user: string; via?: string }): string {
  const proof = pusher.via === undefined ? undefined : (PROOF_WORDS[pusher.via] ?? pusher.via);
  return proof ? `${pusher.user} (${proof})` : pusher.user;
}

/** `sha256:0123456789ab`: enough to tell digests apart; the full value goes in a title. */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return colon < 0 ? digest.slice(0, 12) : digest.slice(0, colon + 13);
}

/** A digest cut to its first characters, the whole in the tooltip and behind a labelled copy button (berth.js reveals it). */
export function digestCode(digest: string): SafeHtml {
  return html`<code class="digest" title="${digest}">${shortDigest(digest)}</code><button type="button" class="button button-small button-copy" data-copy="${digest}" aria-label="Copy the digest ${digest}" hidden>Copy</button>`;
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter((part) => part !== undefined && part !== '').join('/');
}

const KIND_LABELS: Record<ManifestKind, string> = { image: 'image', index: 'multi-platform index', artifact: 'artifact' };

export function kindBadge(kind: ManifestKind): SafeHtml {
  return html`<span class="badge badge-${kind}">${KIND_LABELS[kind]}</span>`;
}

/** "Signed (cosign)", "SBOM (SPDX)", ...: what is attached, never verified (said to screen readers and in the tooltip too). */
export function attachmentBadges(attachments: readonly Attachment[]): SafeHtml {
  return html`${attachments.map(
    (attachment) => html` <span class="badge badge-${attachment.kind}" title="Present, not verified">${attachment.label}<span class="visually-hidden"> (not verified)</span></span>`,
  )}`;
}
