/** The line a mirrored repository's pages show (extensions.sync): where it comes from, and how fresh a tag is. */
import { html, type SafeHtml } from '../html.js';
import { time } from '../format.js';

export interface MirrorNote {
  /** The upstream's base URL. */
  upstream: string;
  /** The repository's name there. */
  remote: string;
  checkIntervalMs: number;
  /** When the tag shown was last confirmed upstream (image page, a tag). */
  checkedAt?: Date;
}

const minutes = (ms: number) => (ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`);

export function mirrorLine(mirror: MirrorNote): SafeHtml {
  return html`<p class="muted mirror">Mirror of <code class="wrap">${mirror.upstream.replace(/^https?:\/\//, '')}/${mirror.remote}</code> (pull-through cache): pulls of what Berth does not hold are fetched from there; a tag is rechecked at most every ${minutes(mirror.checkIntervalMs)}${
    mirror.checkedAt && html`, this one last ${time(mirror.checkedAt)}`
  }.</p>`;
}
