/**
 * Signing in and out, and the account page: `GET/POST /login` (provider buttons, password form),
 * `POST /logout` (ends the session, then the provider's end-session redirect), `GET /account`, and
 * the API key forms `POST /account/api-keys` and `POST /account/api-keys/revoke`. Every post is a
 * plain HTML form with a CSRF token (checked before the handler: see `page` in access.ts), answered
 * by a redirect: a new API key reaches the page that shows it once in a sealed cookie.
 */
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FromSchema } from 'json-schema-to-ts';
import { ApiKeyLimitError, keyOwnerOf, MAX_API_KEYS_PER_USER } from '../../auth/api-keys.js';
import { HTPASSWD } from '../../auth/authenticator.js';
import { RegistryError } from '../../oci/errors.js';
import { url } from '../../ui/html.js';
import { renderAccount, KEY_LIFETIMES, type AccountView } from '../../ui/pages/account.js';
import { LOGIN_ERRORS, renderLogin } from '../../ui/pages/login.js';
import { auditFacts } from '../audit.js';
import { publicOrigin, safeCallback } from '../public-origin.js';
import { formField as field } from '../request-body.js';
import { limitedCheck } from '../sign-in-guard.js';
import { seal, unseal } from '../../auth/cookie-keys.js';
import { cookieOptions, currentSession, endSession, startSession } from '../session-cookies.js';
import { pullTarget, viewerOf, type UiContext } from '../ui-context.js';

/** Carries a key just created from its POST to the page that shows it (once). */
const NEW_KEY_COOKIE = 'berth_new_key';
const NEW_KEY_TTL_MS = 60_000;

interface NewKey {
  key: string;
  label: string;
  /** Shown only to the user who created it (another may sign in in the same browser meanwhile). */
  username: string;
}

const HTML = 'text/html; charset=utf-8';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const loginQuery = {
  type: 'object',
  properties: { next: { type: 'string', maxLength: 2048 }, error: { type: 'string', maxLength: 32 }, provider: { type: 'string', maxLength: 64 }, signedOut: { type: 'string', maxLength: 8 } },
} as const;
type LoginQuery = FromSchema<typeof loginQuery>;

export async function uiAccountRoutes(app: FastifyInstance, context: UiContext): Promise<void> {
  const security = app.security;
  const assets = context.assets.urls;
  const typed = app.withTypeProvider<JsonSchemaToTsProvider>();

  /** `next` when it is a path on this site; anything else (another origin) becomes the list. */
  const nextOf = (request: FastifyRequest & { query: LoginQuery }) => {
    const next = safeCallback(request.query.next, publicOrigin(app, request, security.externalUrl), []);
    return next === '/' ? '/repositories' : next;
  };

  const loginPage = (request: FastifyRequest & { query: LoginQuery }, reply: FastifyReply, extra: { error?: string; username?: string } = {}) => {
    const error = extra.error ?? request.query.error;
    const view = {
      viewer: viewerOf(request, reply, true),
      assets,
      providers: [...security.providers.values()].map((provider) => ({ key: provider.config.key, name: provider.config.name, ...(provider.unavailable ? { unavailable: provider.unavailable } : {}) })),
      password: security.htpasswd !== undefined,
      guest: security.authenticator.configured && security.policy.anonymousAllowedSomewhere,
      open: !security.authenticator.configured,
      next: nextOf(request),
      ...(error !== undefined && error in LOGIN_ERRORS ? { error } : {}),
      ...(request.query.provider !== undefined ? { provider: request.query.provider } : {}),
      ...(extra.username !== undefined ? { username: extra.username } : {}),
      signedOut: request.query.signedOut === '1',
    };
    return reply.type(HTML).header('cache-control', 'no-store').send(renderLogin(view));
  };

  typed.get('/login', { schema: { querystring: loginQuery }, config: { action: 'public', page: true } }, async (request, reply) => loginPage(request, reply));

  // zot's password sign-in for the UI (GET /v2/ with Basic) as a form: the same check, the same session.
  typed.post('/login', { schema: { querystring: loginQuery }, config: { action: 'public', page: true, audit: 'sign-in' } }, async (request, reply) => {
    if (!security.htpasswd) throw new RegistryError('UNSUPPORTED', 'password sign-in is not configured');
    const username = (field(request, 'username') ?? '').trim();
    const password = field(request, 'password') ?? '';
    const valid = username !== '' && !username.includes(':') && username.length <= 256 && password.length <= 1024;
    const authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    auditFacts(request, { provider: 'htpasswd' });
    // An API key is for clients, not for browser sessions (a session may mint keys; a key may not).
    const attempt = await limitedCheck(request, username, async () => {
      const result = valid ? await security.authenticator.authenticate({ authorization }) : undefined;
      return { accepted: result?.kind === 'identity' && result.identity.method === 'htpasswd', result };
    });
    if (attempt.kind === 'blocked') {
      reply.header('retry-after', String(attempt.retryAfterSeconds));
      return loginPage(request, reply.code(429), { error: 'blocked', username });
    }
    const result = attempt.result;
    if (result?.kind !== 'identity' || result.identity.method !== 'htpasswd') {
      app.metrics.authentications.inc({ method: 'password-form', result: 'failure' });
      auditFacts(request, { outcome: 'refused', attemptedUser: username, reason: result?.kind === 'identity' ? 'only a password starts a browser session' : 'invalid username or password' });
      if (security.failDelayMs > 0) await sleep(security.failDelayMs);
      request.log.info({ username }, 'password sign-in refused');
      return loginPage(request, reply.code(401), { error: 'password', username });
    }
    const { identity } = result;
    await startSession(security, request, reply, { username: identity.username!, groups: [], provider: HTPASSWD });
    auditFacts(request, { outcome: 'ok', user: identity.username! });
    request.log.info({ username: identity.username }, 'signed in with a password');
    return reply.code(303).header('cache-control', 'no-store').redirect(nextOf(request));
  });

  app.post('/logout', { config: { action: 'session', page: true, audit: 'sign-out' } }, async (request, reply) => {
    const ended = await endSession(security, request, reply);
    auditFacts(request, { outcome: 'ok', ...(ended ? { user: ended.username, provider: ended.provider } : {}) });
    const provider = ended ? security.providers.get(ended.provider) : undefined;
    const endSessionUrl = provider?.endSessionUrl(ended?.idToken, `${publicOrigin(app, request, security.externalUrl)}/`);
    request.log.info({ username: ended?.username }, 'signed out from the web UI');
    return reply
      .code(303)
      .header('cache-control', 'no-store')
      .redirect(endSessionUrl ?? url('/login', { signedOut: '1' }));
  });

  const accountPage = async (request: FastifyRequest, reply: FastifyReply, extra: Partial<AccountView> = {}) => {
    const { identity } = request.access;
    const username = identity.username!;
    const session = identity.method === 'session' ? await currentSession(security, request) : undefined;
    const providerName = session && session.provider !== 'htpasswd' ? (security.providers.get(session.provider)?.config.name ?? session.provider) : undefined;
    const view: AccountView = {
      viewer: { ...viewerOf(request, reply), username },
      assets,
      groups: identity.groups,
      signedInWith: providerName ?? 'password',
      access: security.policy.explain(identity),
      apiKeysEnabled: security.apiKeysEnabled,
      apiKeys: security.apiKeysEnabled ? await security.apiKeys.list(username) : [],
      registry: pullTarget(app, request),
      ...(security.bearer && security.policy.isAdmin(identity) ? { trustedIssuers: security.bearer.issuers } : {}),
      ...extra,
    };
    return reply.type(HTML).header('cache-control', 'no-store').send(renderAccount(view));
  };

  typed.get(
    '/account',
    { schema: { querystring: { type: 'object', properties: { revoked: { type: 'string', maxLength: 8 }, created: { type: 'string', maxLength: 8 } } } }, config: { action: 'signedIn', page: true } },
    async (request, reply) => {
      // A key just created is shown once: the cookie that carries it here is cleared as it is read.
      const sealed = request.cookies[NEW_KEY_COOKIE];
      if (sealed !== undefined) reply.clearCookie(NEW_KEY_COOKIE, { path: '/account' });
      const fresh = sealed === undefined ? undefined : unseal<NewKey>(security.cookieKeys, sealed);
      if (fresh && fresh.username === request.access.identity.username) return accountPage(request, reply, { created: { key: fresh.key, label: fresh.label } });
      return accountPage(request, reply, request.query.revoked === '1' ? { revoked: true } : {});
    },
  );

  app.post('/account/api-keys', { config: { action: 'signedIn', page: true, audit: 'api-key-create' } }, async (request, reply) => {
    if (!security.apiKeysEnabled) throw new RegistryError('UNSUPPORTED', 'API keys are not enabled (http.auth.apikey)');
    const label = (field(request, 'label') ?? '').trim();
    const days = Number(field(request, 'expiresInDays') ?? '90');
    if (label === '' || label.length > 100) {
      auditFacts(request, { outcome: 'refused', reason: 'label missing or too long' });
      return accountPage(request, reply.code(400), { error: 'Give the key a label of at most 100 characters.' });
    }
    if (!KEY_LIFETIMES.some(([choice]) => choice === days)) {
      auditFacts(request, { outcome: 'refused', label, reason: 'lifetime not offered' });
      return accountPage(request, reply.code(400), { error: 'Choose one of the offered lifetimes.' });
    }
    const expiresAt = days === 0 ? undefined : new Date(Date.now() + days * 86_400_000);
    const owner = keyOwnerOf(request.access.identity);
    let created;
    try {
      created = await security.apiKeys.create(owner, label, expiresAt, request.headers['user-agent']);
    } catch (error) {
      if (!(error instanceof ApiKeyLimitError)) throw error;
      auditFacts(request, { outcome: 'refused', label, reason: 'the user holds the most API keys allowed' });
      return accountPage(request, reply.code(403), { error: `A user may hold at most ${MAX_API_KEYS_PER_USER} API keys. Revoke one to create another.` });
    }
    const { key, record } = created;
    auditFacts(request, { outcome: 'ok', keyId: record.id, label });
    request.log.info({ owner: owner.username, id: record.id, label }, 'API key created from the web UI');
    // Redirect after the POST, so that reloading the page cannot create a second key: the key rides
    // to the next GET in a sealed (encrypted) cookie for that page only, for a minute, read once.
    const fresh: NewKey = { key, label, username: owner.username };
    reply.setCookie(NEW_KEY_COOKIE, seal(security.cookieKeys, fresh, Date.now() + NEW_KEY_TTL_MS), { ...cookieOptions(security, '/account', NEW_KEY_TTL_MS), sameSite: 'strict' });
    return reply.code(303).header('cache-control', 'no-store').redirect('/account?created=1');
  });

  app.post('/account/api-keys/revoke', { config: { action: 'signedIn', page: true, audit: 'api-key-revoke' } }, async (request, reply) => {
    const owner = request.access.identity.username!;
    const id = field(request, 'id') ?? '';
    auditFacts(request, { keyId: id });
    if (!(await security.apiKeys.revoke(owner, id))) {
      auditFacts(request, { outcome: 'refused', reason: 'no such key of this user' });
      return accountPage(request, reply.code(404), { error: 'You have no such API key (it may be revoked already).' });
    }
    auditFacts(request, { outcome: 'ok' });
    request.log.info({ owner, id }, 'API key revoked from the web UI');
    return reply.code(303).redirect('/account?revoked=1');
  });
}
