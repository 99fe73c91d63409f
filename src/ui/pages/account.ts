/**
 * Who I am, my groups, what the access rules let me do, and my API keys: create (label and
 * expiry; the key is shown once, with a copy button and a ready `podman login` line) and revoke.
 */
import type { AccessExplanation } from '../../access/explain.js';
import { formatCount, time } from '../format.js';
import { html } from '../html.js';
import { csrfField, renderPage, type AssetUrls, type Viewer } from '../layout.js';
import { accessWords } from './access-words.js';
import { copyable, type PullTarget } from './pull.js';

export interface ApiKeyRow {
  id: string;
  label: string;
  createdAt: string;
  expiresAt?: string;
  lastUsed?: string;
  isExpired: boolean;
}

export interface AccountView {
  viewer: Viewer & { username: string };
  assets: AssetUrls;
  groups: readonly string[];
  /** How this browser signed in: a provider's name, or "password". */
  signedInWith: string;
  access: AccessExplanation;
  apiKeysEnabled: boolean;
  apiKeys: ApiKeyRow[];
  /** A key just created: shown this once. */
  created?: { key: string; label: string };
  revoked?: boolean;
  error?: string;
  registry: PullTarget;
  /** For an admin: the issuers whose workload ID tokens are accepted (http.auth.bearer.oidc). */
  trustedIssuers?: readonly string[];
}

/** Choices for a new key's lifetime, in days (0: never expires). */
export const KEY_LIFETIMES: Array<[number, string]> = [
  [7, '7 days'],
  [30, '30 days'],
  [90, '90 days'],
  [365, '1 year'],
  [0, 'never'],
];

function newKey(view: AccountView) {
  const { created, registry } = view;
  if (!created) return html``;
  const login = `podman login ${registry.insecure ? '--tls-verify=false ' : ''}--username ${view.viewer.username} --password '${created.key}' ${registry.host}`;
  return html`<section class="card highlight" aria-labelledby="new-key-title" role="status">
  <h3 id="new-key-title">Your new API key “${created.label}”</h3>
  <p><strong>Copy it now: it is shown only this once.</strong> Use it as the password of ${view.viewer.username}.</p>
  ${copyable(created.key, 'Copy the API key')}
  <p>Sign podman in with it:</p>
  ${copyable(login, 'Copy the podman login command')}
</section>`;
}

function keys(view: AccountView) {
  if (!view.apiKeysEnabled) return html`<p class="muted">API keys are not enabled on this registry.</p>`;
  return html`${newKey(view)}
  ${view.revoked && html`<p class="notice" role="status">The API key was revoked.</p>`}
  ${view.error && html`<p class="alert" role="alert">${view.error}</p>`}
  ${
    view.apiKeys.length === 0
      ? html`<p class="muted">You have no API keys.</p>`
      : html`<div class="table-wrap" role="region" aria-label="API key table" tabindex="0"><table class="keys">
    <thead><tr><th scope="col">Label</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
    <tbody>${view.apiKeys.map(
      (key) => html`<tr>
        <th scope="row">${key.label}${key.isExpired && html` <span class="badge badge-expired">expired</span>`}</th>
        <td data-label="Created">${time(key.createdAt)}</td>
        <td data-label="Expires">${key.expiresAt ? time(key.expiresAt) : 'never'}</td>
        <td data-label="Last used">${key.lastUsed ? time(key.lastUsed) : html`<span class="muted">never</span>`}</td>
        <td class="actions"><form method="post" action="/account/api-keys/revoke" class="inline" data-confirm="Revoke the API key ${key.label}? Anything using it stops working.">
          ${csrfField(view.viewer)}<input type="hidden" name="id" value="${key.id}">
          <button type="submit" class="button button-small button-danger" aria-label="Revoke API key ${key.label}">Revoke</button>
        </form></td>
      </tr>`,
    )}</tbody>
  </table></div>`
  }
  <form method="post" action="/account/api-keys" class="stack narrow" aria-labelledby="create-key-title">
    <h3 id="create-key-title">Create an API key</h3>
    ${csrfField(view.viewer)}
    <label for="key-label">Label</label>
    <input id="key-label" name="label" required maxlength="100" placeholder="laptop, CI, ...">
    <label for="key-expiry">Expires after</label>
    <select id="key-expiry" name="expiresInDays">${KEY_LIFETIMES.map(([days, words]) => html`<option value="${days}" ${days === 90 && html`selected`}>${words}</option>`)}</select>
    <button type="submit" class="button button-primary">Create key</button>
  </form>`;
}

export function renderAccount(view: AccountView): string {
  const main = html`<h1>Account</h1>
<section class="card" aria-labelledby="me-title">
  <h2 id="me-title">${view.viewer.username}</h2>
  <dl class="facts">
    <dt>Signed in with</dt><dd>${view.signedInWith}</dd>
    <dt>Groups</dt><dd>${view.groups.length > 0 ? html`<span class="badges">${view.groups.map((group) => html`<span class="badge">${group}</span>`)}</span>` : html`<span class="muted">none</span>`}</dd>
  </dl>
  ${view.viewer.session && html`<form method="post" action="/logout" class="card-actions">${csrfField(view.viewer)}<button type="submit" class="button">Sign out</button></form>`}
</section>
<section aria-labelledby="access-title">
  <h2 id="access-title">What you may do</h2>
  ${accessWords(view.access)}
</section>
${
  view.trustedIssuers &&
  html`<section aria-labelledby="issuers-title">
  <h2 id="issuers-title">Trusted workload issuers</h2>
  <p class="muted">Robots of these issuers sign in with their own ID tokens (Kubernetes ServiceAccounts, CI jobs): see http.auth.bearer.oidc.</p>
  ${view.trustedIssuers.length === 0 ? html`<p class="muted">None: no workload ID tokens are accepted.</p>` : html`<ul class="issuers">${view.trustedIssuers.map((issuer) => html`<li><code>${issuer}</code></li>`)}</ul>`}
</section>`
}
<section aria-labelledby="keys-title">
  <h2 id="keys-title">API keys <span class="muted small">${formatCount(view.apiKeys.length, 'key')}</span></h2>
  <p class="muted">An API key is a password for docker, podman, skopeo and scripts: it acts as you, with your groups of the moment: those the registry gives you, and those of your last sign-in at your identity provider.</p>
  ${keys(view)}
</section>`;
  return renderPage({ title: 'Account', viewer: view.viewer, assets: view.assets, current: 'account', main });
}
