/**
 * The test provider's own pages (test/helpers/oidc-provider.ts): login and consent forms for its
 * interactions, the RP-initiated logout pages, and its error page. Every page carries
 * `<meta name="harness-page" content="login|consent|logout-confirm|logout-auto|logout-success|error">`
 * so oidc-login.ts can drive them over plain HTTP; no devInteractions, no network.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { OidcUsers } from './oidc-provider.js';

export async function handleInteraction(provider: Provider, users: OidcUsers, req: IncomingMessage, res: ServerResponse, uid: string, action: string | undefined): Promise<void> {
  const method = req.method ?? 'GET';
  if ((action === undefined && method !== 'GET') || (action !== undefined && method !== 'POST')) {
    sendHtml(res, 405, errorPage('invalid_request', `${method} not allowed here`));
    return;
  }
  let details: Awaited<ReturnType<Provider['interactionDetails']>>;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (error) {
    // Missing or expired _interaction cookie, or an unknown interaction.
    sendHtml(res, 400, errorPage('invalid_request', `interaction not found: ${String(error)}`));
    return;
  }
  if (details.uid !== uid) {
    sendHtml(res, 400, errorPage('invalid_request', 'interaction id does not match the interaction cookie'));
    return;
  }
  const { prompt, params } = details;
  const clientId = String(params.client_id ?? '');

  if (action === undefined) {
    if (prompt.name === 'login') {
      sendHtml(res, 200, loginPage(uid, clientId, typeof params.login_hint === 'string' ? params.login_hint : ''));
    } else if (prompt.name === 'consent') {
      sendHtml(res, 200, consentPage(uid, clientId, String(params.scope ?? '')));
    } else {
      sendHtml(res, 501, errorPage('server_error', `unsupported prompt ${prompt.name}`));
    }
    return;
  }

  const form = await readForm(req);
  if (action === 'abort') {
    await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false });
    return;
  }

  if (action === 'login') {
    if (prompt.name !== 'login') {
      sendHtml(res, 400, errorPage('invalid_request', `expected the ${prompt.name} step, not login`));
      return;
    }
    const username = form.get('username') ?? '';
    const user = users.get(username);
    if (!user || (user.password !== undefined && form.get('password') !== user.password)) {
      sendHtml(res, 401, loginPage(uid, clientId, username, 'Unknown user or wrong password'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: user.sub, amr: ['pwd'] } }, { mergeWithLastSubmission: false });
    return;
  }

  // action === 'confirm'
  if (prompt.name !== 'consent') {
    sendHtml(res, 400, errorPage('invalid_request', `expected the ${prompt.name} step, not consent`));
    return;
  }
  const accountId = details.session?.accountId;
  if (!accountId) {
    sendHtml(res, 400, errorPage('invalid_request', 'no logged-in account for this interaction'));
    return;
  }
  const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId, clientId });
  if (!grant) {
    sendHtml(res, 400, errorPage('invalid_request', 'grant not found'));
    return;
  }
  const missing = prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function page(kind: string, title: string, body: string, script = ''): string {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="harness-page" content="${kind}"><title>${escapeHtml(title)}</title>${script}</head>
<body>${body}</body></html>`;
}

export function errorPage(error: string, description: string | undefined): string {
  return page(
    'error',
    'Error',
    `<h1>Error</h1><p data-error="${escapeHtml(error)}">${escapeHtml(error)}</p>` + `<p data-error-description="${escapeHtml(description ?? '')}">${escapeHtml(description ?? '')}</p>`,
  );
}

function loginPage(uid: string, clientId: string, username: string, error?: string): string {
  return page(
    'login',
    'Sign in',
    `<h1>Sign in to ${escapeHtml(clientId)}</h1>` +
      (error ? `<p role="alert" data-error="login_failed">${escapeHtml(error)}</p>` : '') +
      `<form method="post" action="/interaction/${uid}/login">` +
      `<label>Username <input type="text" name="username" value="${escapeHtml(username)}" autofocus></label>` +
      `<label>Password <input type="password" name="password" value=""></label>` +
      `<button type="submit">Sign in</button></form>` +
      `<form method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel</button></form>`,
  );
}

function consentPage(uid: string, clientId: string, scope: string): string {
  return page(
    'consent',
    'Authorize',
    `<h1>Authorize ${escapeHtml(clientId)}</h1><p>Scopes: ${escapeHtml(scope)}</p>` +
      `<form method="post" action="/interaction/${uid}/confirm"><button type="submit">Authorize</button></form>` +
      `<form method="post" action="/interaction/${uid}/abort"><button type="submit">Deny</button></form>`,
  );
}

/**
 * oidc-provider always answers a logout request with a page whose form POSTs to the confirm
 * endpoint (with an xsrf token); it has no setting to redirect straight away. With a valid
 * id_token_hint the page submits itself with `logout=yes` (no user interaction, like Pocket ID);
 * otherwise it asks for confirmation.
 */
export function logoutPage(ctx: KoaContextWithOIDC, form: string, withoutConfirmation: boolean): void {
  ctx.type = 'html';
  const hinted = ctx.oidc.entities.IdTokenHint !== undefined;
  if (hinted && withoutConfirmation) {
    const auto = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>');
    ctx.body = page('logout-auto', 'Signing out', `<p>Signing out…</p>${auto}`, `<script>document.addEventListener('DOMContentLoaded', function () { document.forms[0].submit() });</script>`);
    return;
  }
  const confirm = form.replace('</form>', '<button autofocus type="submit" name="logout" value="yes">Yes, sign me out</button>' + '<button type="submit">No, stay signed in</button></form>');
  ctx.body = page('logout-confirm', 'Sign out?', `<h1>Do you want to sign out?</h1>${confirm}`);
}
