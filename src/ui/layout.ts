/**
 * The page shell every UI page shares: landmarks (header, nav, main, footer), a skip link, the
 * signed-in user with a sign-out form, and the CSS and script from /ui/assets (no inline script or
 * style anywhere, so the Content-Security-Policy can forbid them).
 */
import { html, url, type HtmlValue, type SafeHtml } from './html.js';

export interface AssetUrls {
  css: string;
  js: string;
  icon: string;
}

/** Who the page is for; `csrf` goes into every form the page holds. */
export interface Viewer {
  username?: string;
  csrf?: string;
  /** A browser session that can be ended with the sign-out form. */
  session: boolean;
  /** Whether sign-in exists at all (an open registry has no sign-in link). */
  signInAvailable: boolean;
}

export interface PageOptions {
  title: string;
  viewer: Viewer;
  assets: AssetUrls;
  current?: 'repositories' | 'account' | 'login';
  /** Where "Sign in" should bring the person back to. */
  here?: string;
  main: HtmlValue;
}

export function csrfField(viewer: Pick<Viewer, 'csrf'>): SafeHtml {
  return html`<input type="hidden" name="csrf" value="${viewer.csrf ?? ''}">`;
}

function userMenu(options: PageOptions): SafeHtml {
  const { viewer } = options;
  if (viewer.username === undefined) {
    if (!viewer.signInAvailable || options.current === 'login') return html``;
    return html`<a class="button" href="${url('/login', { next: options.here })}">Sign in</a>`;
  }
  return html`<a href="/account" ${options.current === 'account' ? html`aria-current="page"` : ''}>${viewer.username}</a>
    ${viewer.session && html`<form method="post" action="/logout" class="inline">${csrfField(viewer)}<button type="submit" class="link-button">Sign out</button></form>`}`;
}

export function renderPage(options: PageOptions): string {
  const current = (name: PageOptions['current']) => (options.current === name ? html`aria-current="page"` : '');
  return html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${options.title} · Berth</title>
<link rel="icon" href="${options.assets.icon}" type="image/svg+xml">
<link rel="stylesheet" href="${options.assets.css}">
<script src="${options.assets.js}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/repositories"><img src="${options.assets.icon}" alt="" width="24" height="24"> Berth</a>
  <nav aria-label="Main">
    <a href="/repositories" ${current('repositories')}>Repositories</a>
    ${options.viewer.username !== undefined && html`<a href="/account" ${current('account')}>Account</a>`}
  </nav>
  <div class="user">${userMenu(options)}</div>
</header>
<main id="main" tabindex="-1">
${options.main}
</main>
<footer class="bottom"><p>Berth OCI registry</p></footer>
</body>
</html>
`.markup;
}
