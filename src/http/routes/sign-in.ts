/**
 * Browser sign-in through an OpenID Provider, on zot's endpoints: `GET /zot/auth/login`,
 * `GET /zot/auth/callback/<provider>`, `POST /zot/auth/logout`. Each callback is one `sign-in`
 * audit line (who, through which provider, or why not); a sign-in that fails to start is one too.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { seal, unseal } from '../../auth/cookie-keys.js';
import type { PendingLogin } from '../../auth/oidc.js';
import { RegistryError } from '../../oci/errors.js';
import { auditFacts } from '../audit.js';
import { publicOrigin, safeCallback } from '../public-origin.js';
import { cookieOptions, endSession, startSession } from '../session-cookies.js';

const LOGIN_COOKIE = 'berth_login';
const LOGIN_TTL_MS = 10 * 60_000;
const CALLBACK_PATH = '/zot/auth/callback/';

type LoginRequest = { Querystring: { provider?: string; callback_ui?: string } };
type CallbackRequest = { Params: { provider: string }; Querystring: Record<string, string> };

/** Why a browser sign-in failed, as the web UI's sign-in page names it (src/ui/pages/login.ts). */
type SignInFailure = 'unknown-provider' | 'unavailable' | 'expired' | 'denied' | 'failed' | 'local-account' | 'name-taken';

export async function signInRoutes(app: FastifyInstance): Promise<void> {
  const security = app.security;

  /**
   * With the web UI on (its sign-in page exists), a failed sign-in goes back to that page with a
   * code it puts in words, instead of leaving the person on a JSON error; without the UI, the error.
   */
  const fail = (reply: FastifyReply, failure: SignInFailure, error: RegistryError, context: { provider?: string; next?: string }) => {
    // The audit reason is the failure's code, unless the branch named a finer one (replay).
    auditFacts(reply.request, {
      event: 'sign-in',
      outcome: failure === 'failed' || failure === 'unavailable' ? 'failed' : 'refused',
      reason: failure,
      ...(context.provider ? { provider: context.provider } : {}),
    });
    if (!app.hasRoute({ method: 'GET', url: '/login' })) throw error;
    reply.log.info({ failure, detail: error.detail }, 'browser sign-in failed');
    const query = new URLSearchParams({ error: failure, ...(context.provider ? { provider: context.provider } : {}), ...(context.next ? { next: context.next } : {}) });
    return reply.code(303).header('cache-control', 'no-store').redirect(`/login?${query.toString()}`);
  };

  app.get<LoginRequest>('/zot/auth/login', { config: { action: 'public' } }, async (request, reply) => {
    const keys = [...security.providers.keys()];
    const key = request.query.provider ?? (keys.length === 1 ? keys[0] : undefined);
    const provider = key === undefined ? undefined : security.providers.get(key);
    const origin = publicOrigin(app, request, security.externalUrl);
    const callbackUi = safeCallback(request.query.callback_ui, origin, security.callbackAllowOrigins);
    if (!provider)
      return fail(reply, 'unknown-provider', new RegistryError('BODY_INVALID', { provider: key ?? null, reason: `unknown provider; configured: ${keys.join(', ') || 'none'}` }), { next: callbackUi });
    const unavailable = provider.unavailable;
    if (unavailable) return fail(reply, 'unavailable', new RegistryError('UNAVAILABLE', unavailable), { provider: provider.config.key, next: callbackUi });
    const { url, pending } = await provider.beginLogin(`${origin}${CALLBACK_PATH}${provider.config.key}`, callbackUi);
    reply.setCookie(LOGIN_COOKIE, seal(security.cookieKeys, pending, Date.now() + LOGIN_TTL_MS), cookieOptions(security, `${CALLBACK_PATH}${provider.config.key}`, LOGIN_TTL_MS));
    return reply.code(302).header('cache-control', 'no-store').redirect(url);
  });

  app.get<CallbackRequest>(`${CALLBACK_PATH}:provider`, { config: { action: 'public', audit: 'sign-in' } }, async (request, reply) => {
    const key = request.params.provider;
    auditFacts(request, { provider: key });
    const provider = security.providers.get(key);
    if (!provider) throw new RegistryError('BODY_INVALID', { provider: key, reason: 'unknown provider' });
    const sealed = request.cookies[LOGIN_COOKIE];
    const pending = sealed === undefined ? undefined : unseal<PendingLogin>(security.cookieKeys, sealed);
    reply.clearCookie(LOGIN_COOKIE, { path: `${CALLBACK_PATH}${key}` });
    if (!pending || pending.provider !== key) {
      auditFacts(request, {
        reason: sealed === undefined ? 'expired: no sign-in cookie' : pending === undefined ? 'expired: the sign-in cookie is forged or too old' : 'expired: started for another provider',
      });
      return fail(reply, 'expired', new RegistryError('UNAUTHORIZED', 'this sign-in expired or was not started here; start again'), { provider: key });
    }
    const back = { provider: key, ...(pending.callbackUi ? { next: pending.callbackUi } : {}) };
    if (typeof request.query.error === 'string') {
      return fail(reply, 'denied', new RegistryError('UNAUTHORIZED', `the identity provider refused the sign-in: ${request.query.error_description ?? request.query.error}`), back);
    }
    if (!(await security.claimLogin(pending.state))) {
      auditFacts(request, { reason: 'replay' });
      return fail(reply, 'expired', new RegistryError('UNAUTHORIZED', 'this sign-in has already been completed; start again'), back);
    }
    const callbackUrl = new URL(pending.redirectUri);
    callbackUrl.search = new URL(request.url, 'http://unused').search;
    let login;
    try {
      login = await provider.completeLogin(callbackUrl, pending);
    } catch (error) {
      app.metrics.authentications.inc({ method: 'oidc', result: 'failure' });
      return fail(reply, 'failed', new RegistryError('UNAUTHORIZED', `sign-in failed: ${(error as Error).message}`, { cause: error }), back);
    }
    /** A sign-in the provider vouched for but Berth refuses: logged, audited, answered in words. */
    const refuse = (failure: SignInFailure, reason: string, detail: string) => {
      request.log.warn({ provider: key, username: login.username, reason }, 'refused a provider sign-in');
      auditFacts(request, { outcome: 'refused', attemptedUser: login.username, provider: key, reason });
      return fail(reply, failure, new RegistryError('DENIED', detail), back);
    };
    if (security.htpasswd?.has(login.username)) {
      return refuse('local-account', 'the name is a local htpasswd account', `"${login.username}" is a local account of this registry; the provider's user cannot take it over`);
    }
    // Workload identities are named `<issuer>/<subject>` by default: a person's name there would
    // take a workload's policies (a provider that lets users pick their name could do it on purpose).
    const workloadIssuer = security.bearer?.issuers.find((issuer) => login.username.startsWith(`${issuer}/`));
    if (workloadIssuer !== undefined) {
      return refuse('name-taken', "the name is in a workload issuer's namespace", `"${login.username}" names a workload of ${workloadIssuer}; a provider's user cannot take it`);
    }
    // A name stays bound to the provider and subject that first signed in with it: a user renamed
    // at the provider to a freed name is someone else, and must not inherit its keys and policies.
    const binding = await security.users.signIn(login.username, key, login.subject, login.groups);
    if (!binding.ok) {
      return binding.reason === 'another-provider'
        ? refuse('name-taken', 'the name is bound to another provider', `"${login.username}" signed in through another provider before; this provider's user cannot take it over`)
        : refuse(
            'name-taken',
            'the name is bound to another subject of this provider',
            `"${login.username}" belongs to another user of this provider (renamed or reused there); an administrator can release the name with "berth users release"`,
          );
    }
    // Keys made before subjects were recorded follow the name's record, which just took this subject.
    if (binding.adopted) await security.apiKeys.adopt(login.username, key, login.subject);
    await startSession(security, request, reply, { username: login.username, groups: login.groups, provider: key, subject: login.subject, idToken: login.idToken });
    app.metrics.authentications.inc({ method: 'oidc', result: 'success' });
    auditFacts(request, { outcome: 'ok', user: login.username, provider: key });
    request.log.info({ provider: key, username: login.username, groups: login.groups }, 'signed in');
    return reply
      .code(302)
      .header('cache-control', 'no-store')
      .redirect(pending.callbackUi ?? '/');
  });

  app.post('/zot/auth/logout', { config: { action: 'session', audit: 'sign-out' } }, async (request, reply) => {
    const ended = await endSession(security, request, reply);
    auditFacts(request, { outcome: 'ok', ...(ended ? { user: ended.username, provider: ended.provider } : {}) });
    const provider = ended ? security.providers.get(ended.provider) : undefined;
    const endSessionUrl = provider?.endSessionUrl(ended?.idToken, `${publicOrigin(app, request, security.externalUrl)}/`);
    return reply.header('cache-control', 'no-store').send(endSessionUrl ? { endSessionUrl } : {});
  });
}
