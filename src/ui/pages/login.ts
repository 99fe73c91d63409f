/**
 * The sign-in page: a button per OpenID provider (its configured `name`), a password form when
 * htpasswd is on, "continue as guest" when anonymous read is allowed somewhere. Errors arrive as
 * codes (never as free text in the URL, which anyone could craft) and are put in words here.
 */
import { html, url, type SafeHtml } from '../html.js';
import { csrfField, renderPage, type AssetUrls, type Viewer } from '../layout.js';

export interface LoginProvider {
  key: string;
  name: string;
  /** Why sign-in cannot start now (the provider is down), in words. */
  unavailable?: string;
}

export interface LoginView {
  viewer: Viewer;
  assets: AssetUrls;
  providers: LoginProvider[];
  password: boolean;
  guest: boolean;
  /** No sign-in configured: everyone may do everything. */
  open: boolean;
  next: string;
  error?: string;
  provider?: string;
  username?: string;
  signedOut?: boolean;
}

/** The sentence for each error code a sign-in can come back with. */
export const LOGIN_ERRORS: Record<string, string> = {
  denied: 'The identity provider did not sign you in: the sign-in was cancelled or refused there.',
  failed: 'The identity provider answered, but the sign-in could not be completed. Try again; if it keeps failing, tell the registry operator.',
  expired: 'That sign-in took too long or was started in another browser. Start again.',
  unavailable: 'The identity provider cannot be reached right now. Try again in a moment, or use another way to sign in.',
  'local-account': 'Your name at the identity provider is the name of a local account of this registry, so it cannot be used to sign in. Ask the registry operator.',
  'name-taken':
    'Your name at the identity provider already belongs to another account of this registry (the name was renamed or reused at the provider), so it cannot be used to sign in. Ask the registry operator to release it.',
  'unknown-provider': 'That identity provider is not configured here.',
  password: 'Wrong user name or password.',
  blocked: 'Too many failed sign-ins from here. Wait a few minutes and try again.',
  session: 'Your session has ended. Sign in again.',
  form: 'The form had expired. Please try again.',
};

function providerButton(provider: LoginProvider, next: string): SafeHtml {
  if (provider.unavailable) {
    return html`<li><span class="button button-large" aria-disabled="true">Sign in with ${provider.name}</span>
      <p class="field-note" role="status">${provider.name} is unavailable: ${provider.unavailable}</p></li>`;
  }
  return html`<li><a class="button button-large button-primary" href="${url('/zot/auth/login', { provider: provider.key, callback_ui: next })}">Sign in with ${provider.name}</a></li>`;
}

export function renderLogin(view: LoginView): string {
  const message = view.error === undefined ? undefined : (LOGIN_ERRORS[view.error] ?? LOGIN_ERRORS.failed!);
  const providerName = view.providers.find((provider) => provider.key === view.provider)?.name;
  const main = html`<section class="card narrow" aria-labelledby="login-title">
  <h1 id="login-title">Sign in to Berth</h1>
  ${view.signedOut && html`<p class="notice" role="status">You have signed out.</p>`}
  ${message && html`<p class="alert" role="alert">${providerName ? html`${providerName}: ` : ''}${message}</p>`}
  ${view.open && html`<p>This registry is open: no sign-in is needed. <a href="/repositories">Browse the repositories</a>.</p>`}
  ${view.providers.length > 0 && html`<ul class="providers">${view.providers.map((provider) => providerButton(provider, view.next))}</ul>`}
  ${
    view.password &&
    html`${view.providers.length > 0 && html`<p class="divider"><span>or with a password</span></p>`}
  <form method="post" action="${url('/login', { next: view.next })}" class="stack">
    ${csrfField(view.viewer)}
    <label for="username">User name</label>
    <input id="username" name="username" autocomplete="username" required maxlength="256" value="${view.username ?? ''}">
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024">
    <button type="submit" class="button button-primary">Sign in</button>
  </form>`
  }
  ${view.guest && html`<p class="guest"><a href="${view.next}">Continue as guest</a> to see what is public.</p>`}
</section>`;
  return renderPage({ title: 'Sign in', viewer: view.viewer, assets: view.assets, current: 'login', main });
}
