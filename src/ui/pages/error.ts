/** An error page in words: what happened and where to go next. Never internals. */
import { html } from '../html.js';
import { renderPage, type AssetUrls, type Viewer } from '../layout.js';

export interface ErrorView {
  viewer: Viewer;
  assets: AssetUrls;
  status: number;
  title: string;
  message: string;
}

export function renderError(view: ErrorView): string {
  const main = html`<section class="card narrow" aria-labelledby="error-title">
  <h1 id="error-title">${view.title}</h1>
  <p>${view.message}</p>
  <p><a href="/repositories">Back to the repositories</a></p>
</section>`;
  return renderPage({ title: view.title, viewer: view.viewer, assets: view.assets, main });
}
