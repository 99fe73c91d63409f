/**
 * Authorization is declared, and enforced in one place. Every /v2 route names in its config the
 * action it needs; the hook below authenticates the caller, then allows, challenges (401) or denies
 * (403) before any handler runs. A route that declares nothing cannot be registered.
 *
 * - `read`, `create`, `delete`: zot's actions on the repository named by the route's `:name`.
 * - `public`: no authentication at all (sign-in endpoints, the auth-methods document).
 * - `none`: any caller (`GET /v2/`, which still challenges when nothing is open to anonymous).
 * - `signedIn`: a person or robot with a password or session (not an API key: a key cannot mint
 *   keys); `session`: a browser session (sign-out); `metrics`: accessControl.metrics.
 * - `catalog`: any caller who may read somewhere; the route filters with `request.access.can`.
 * - `token`: the token endpoint (/zot/auth/token): credentials are checked as everywhere (a wrong
 *   one is a 401), no credentials is the anonymous caller, who gets a token for what anonymous may
 *   do; the route adds the credentials of a form body through `authenticateForm`.
 * - `permits`: actions whose verdict the route needs as a value (`update` when a push moves a
 *   tag, `detectManifestCollision` on delete); decided here, used there.
 * - `repositoryQuery`: the query parameter that names the repository, for routes that take it
 *   there rather than in the path (the UI's API).
 * - `readFrom`: a query parameter naming another repository that the caller must be able to read
 *   for it to be used (the source of a cross-repository mount); otherwise it is dropped.
 * - `page`: an HTML page or form of the web UI. A browser cannot add the UI header to a link or a
 *   form, so there the session cookie counts without it: on top-level GET navigations (pages have
 *   no side effects; SameSite=Lax already keeps the cookie off cross-site subresources and posts)
 *   and on form posts, which must then carry the CSRF token: `requireDeclaredAccess` attaches that
 *   check to every non-GET page route, so no form can be registered without it.
 *
 * A registry token (src/workload/) brings its grants: the caller may do on repositories what both
 * the grants and the policy of the moment allow, and nothing else (`signedIn`, `session`, `metrics`
 * and `token` refuse it).
 *
 * Passwords and API keys are checked under the sign-in limits (sign-in-guard.ts). The refusals this
 * hook decides (401, 403, 429 for a blocked attempt) carry their audit facts (audit.ts); failed
 * credentials are audited on every route, other refusals on the routes that declare an event.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { ANONYMOUS, type Action, type Identity } from '../access/policy.js';
import { RegistryError } from '../oci/errors.js';
import { assertValidName, isValidName } from '../oci/names.js';
import type { Authentication, Credentials } from '../auth/authenticator.js';
import type { Grants } from '../auth/bearer-tokens.js';
import { grantAllows } from '../workload/scopes.js';
import { parseBasic } from '../auth/basic-credentials.js';
import { unsignValue } from '../auth/cookie-keys.js';
import type { Security } from '../auth/security.js';
import { auditCredentials, auditFacts, declaredEvent, reasonOf } from './audit.js';
import { requireFormToken } from './csrf.js';
import { SESSION_COOKIE } from './cookie-names.js';
import { crossSiteReason } from './same-origin.js';
import { blockedError, limitedCheck } from './sign-in-guard.js';

export type RouteAction = 'public' | 'none' | 'catalog' | 'token' | 'signedIn' | 'session' | 'metrics' | 'read' | 'create' | 'delete';

export interface RouteAccess {
  identity: Identity;
  /** Asks the policy in force for this request. */
  can(action: Action, repository: string): boolean;
  /** `can('read', name)` holds for every name (listings then skip asking per repository). */
  readsEverything: boolean;
  /** Verdicts for the route's declared `permits`, on its repository. */
  permits: Partial<Record<Action, boolean>>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    action?: RouteAction;
    permits?: Action[];
    readFrom?: string;
    /** For repository actions: the query parameter naming the repository, when not `:name`. */
    repositoryQuery?: string;
    /** A web UI page or form: see `page` above. */
    page?: boolean;
  }
  interface FastifyRequest {
    access: RouteAccess;
  }
  interface FastifyInstance {
    security: Security;
  }
}

/**
 * Every route under these prefixes must declare its action: the registry, zot's auth, the UI's API
 * and the web UI's pages and assets (and `/`, matched exactly).
 */
export const DECLARED_PREFIXES = ['/v2', '/zot', '/api', '/login', '/logout', '/repositories', '/repository', '/image', '/account', '/ui'];
const DECLARED_PATHS = ['/'];

/** Fails at start-up, not at request time, when a route forgets to declare its action. */
export function requireDeclaredAccess(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    if (!DECLARED_PATHS.includes(route.url) && !DECLARED_PREFIXES.some((prefix) => route.url.startsWith(prefix))) return;
    const config = route.config as { action?: RouteAction; page?: boolean } | undefined;
    if (config?.action === undefined) throw new Error(`route ${String(route.method)} ${route.url} declares no action`);
    if (config.page === true && ([] as string[]).concat(route.method).some((method) => method !== 'GET')) {
      // The session cookie counts on a page's form post only with the form's CSRF token.
      const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
      route.preHandler = [requireFormToken, ...existing];
    }
  });
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** 401 for a caller who could still sign in, 403 for one who has. */
function refuse(identity: Identity, detail: unknown): RegistryError {
  return new RegistryError(identity.username === undefined ? 'UNAUTHORIZED' : 'DENIED', detail);
}

/** What the hook reports about credential checks (metrics). */
export interface AccessObservers {
  authenticated?(method: string, result: 'success' | 'failure'): void;
}

export function enforceAccess(app: FastifyInstance, security: () => Security, observers: AccessObservers): void {
  app.decorateRequest('access', null as unknown as RouteAccess);
  app.decorate('security', { getter: security });

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const config = request.routeOptions.config;
    if (config?.action === undefined) return;
    const current = security();
    if (config.action === 'public') {
      request.access = { identity: ANONYMOUS, can: () => false, readsEverything: false, permits: {} };
      return;
    }
    const { policy } = current;
    const credentials = credentialsOf(request, current);
    const presented =
      credentials.authorization !== undefined
        ? /^Basic\s+/i.test(credentials.authorization)
          ? 'basic'
          : /^Bearer\s+/i.test(credentials.authorization)
            ? 'bearer'
            : 'other'
        : credentials.sessionId !== undefined
          ? 'session'
          : undefined;
    const authentication = await authenticate(request, reply, current, credentials);
    if (authentication.kind === 'rejected') {
      observers.authenticated?.(presented ?? 'other', 'failure');
      if (current.failDelayMs > 0) await sleep(current.failDelayMs);
      throw new RegistryError('UNAUTHORIZED', authentication.reason);
    }
    const identity = authentication.kind === 'identity' ? authentication.identity : ANONYMOUS;
    const grants = authentication.kind === 'identity' ? authentication.grants : undefined;
    if (identity.method) observers.authenticated?.(identity.method, 'success');
    // The cookie is sent by the browser whoever asks it to: a state change it authenticates must
    // come from Berth's own pages (the UI header keeps other sites out today; this holds without it).
    if (identity.method === 'session' && !SAFE_METHODS.has(request.method)) {
      const elsewhere = crossSiteReason(request, current.externalUrl);
      // A page's form gets the UI's "form refused" page (csrf.ts); an API call the error JSON.
      if (elsewhere !== undefined) throw new RegistryError('DENIED', { reason: config.page === true ? 'form' : 'cross-site', why: `a change with a browser session ${elsewhere}` });
    }
    const can = grants
      ? (action: Action, repository: string) => grantAllows(grants, action, repository) && policy.can(identity, action, repository)
      : (action: Action, repository: string) => policy.can(identity, action, repository);
    request.access = { identity, can, readsEverything: grants === undefined && policy.readsEverything(identity), permits: {} };
    reply.header('cache-control', 'no-store');

    try {
      authorize(request, config.action, current, identity, can, grants);
    } catch (error) {
      // Refusals of requests that would have changed state are audited, with the hook's reason.
      if (declaredEvent(request) !== undefined) auditFacts(request, { outcome: 'refused', reason: reasonOf(error) });
      throw error;
    }
  });
}

/**
 * Credentials of the request, checked: a password or API key (Basic, or any other scheme, which is
 * refused) under the sign-in limits, with a failure or block audited; a session cookie as it is.
 */
async function authenticate(request: FastifyRequest, reply: FastifyReply, security: Security, credentials: Credentials): Promise<Authentication> {
  const { authorization } = credentials;
  const parsed = authorization === undefined ? undefined : parseBasic(authorization);
  // No password to check (none sent, or containers/image's empty `Basic Og==`): no limit applies.
  if (authorization === undefined || parsed?.ok === 'empty') {
    const authentication = await security.authenticator.authenticate(credentials);
    if (authentication.kind === 'rejected' && declaredEvent(request) !== undefined) auditFacts(request, { outcome: 'refused', reason: authentication.reason });
    return authentication;
  }
  const account = parsed?.ok === true ? parsed.username : '';
  const attempt = await limitedCheck(request, account, async () => {
    const result = await security.authenticator.authenticate(credentials);
    return { accepted: result.kind !== 'rejected', result };
  });
  if (attempt.kind === 'blocked') throw blockedError(reply, attempt);
  if (attempt.result.kind === 'rejected') auditCredentials(request, { outcome: 'refused', ...(account !== '' ? { attemptedUser: account } : {}), reason: attempt.result.reason });
  return attempt.result;
}

/**
 * The token endpoint's credentials from a form body (`password`, `id_token`, ...): checked exactly as
 * Basic credentials in the header are (sign-in limits, failDelay, audit), and made the request's
 * identity. Throws the 401 or 429 of a refusal.
 */
export async function authenticateForm(request: FastifyRequest, reply: FastifyReply, username: string, password: string): Promise<void> {
  const current = request.server.security;
  const authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const authentication = await authenticate(request, reply, current, { authorization });
  if (authentication.kind === 'rejected') {
    if (current.failDelayMs > 0) await sleep(current.failDelayMs);
    throw new RegistryError('UNAUTHORIZED', authentication.reason);
  }
  const identity = authentication.kind === 'identity' ? authentication.identity : ANONYMOUS;
  const { policy } = current;
  request.access = { identity, can: (action, repository) => policy.can(identity, action, repository), readsEverything: policy.readsEverything(identity), permits: {} };
}

/** Allows the request or throws its refusal (401, 403), by the route's declared action. */
function authorize(request: FastifyRequest, action: Exclude<RouteAction, 'public'>, current: Security, identity: Identity, can: RouteAccess['can'], grants: Grants | undefined): void {
  const config = request.routeOptions.config;
  const { policy } = current;
  const name = config.repositoryQuery === undefined ? (request.params as { name?: string }).name : queryString(request, config.repositoryQuery);
  switch (action) {
    case 'none':
      // Registry clients (docker, containers/image, containerd) send stored credentials only after
      // /v2/ challenges them, so a 200 here would make `--creds` pushes fail. Only the UI, which
      // asks to learn whether guests are welcome, gets 200 (zot's rule, widened from docker).
      // An anonymous registry token answers the challenge too (docker pulling what guests may read).
      if (identity.username === undefined && grants === undefined && current.authenticator.configured && !(isUiRequest(request) && policy.anonymousAllowedSomewhere)) {
        throw refuse(identity, 'sign in to use this registry');
      }
      return;
    case 'catalog':
      if (identity.username === undefined && !policy.anonymousAllowedSomewhere) throw refuse(identity, 'sign in to use this registry');
      return;
    case 'token':
      // Only a first-hand credential earns a token: refreshing one with itself would let a stolen
      // five-minute token live for ever.
      if (grants !== undefined) throw new RegistryError('UNAUTHORIZED', 'a registry token cannot be exchanged for another; use a password, an API key or an ID token');
      return;
    case 'signedIn':
      // Nor may a registry token (scoped, minutes) mint API keys (lasting, whole-account).
      if (identity.username === undefined || identity.method === 'apikey' || identity.method === 'workload' || grants !== undefined) {
        throw new RegistryError('UNAUTHORIZED', 'sign in with a password or a browser session');
      }
      return;
    case 'session':
      if (identity.method !== 'session' || grants !== undefined) throw new RegistryError('UNAUTHORIZED', 'no browser session');
      return;
    case 'metrics':
      // A registry token grants repositories, not the registry's figures.
      if (grants !== undefined || !policy.canReadMetrics(identity)) throw refuse(identity, 'metrics: see accessControl.metrics');
      return;
    default: {
      if (name === undefined) {
        if (config.repositoryQuery !== undefined) throw new RegistryError('NAME_INVALID', `the ${config.repositoryQuery} query parameter is required`);
        throw new Error(`route ${request.routeOptions.url} needs :name for ${action}`);
      }
      assertValidName(name);
      // The repository this decision is about, a fact of the audit line whatever the verdict.
      if (declaredEvent(request) !== undefined) auditFacts(request, { repository: name });
      if (!can(action, name)) throw refuse(identity, { name, action });
      for (const action of config.permits ?? []) request.access.permits[action] = can(action, name);
      if (config.readFrom !== undefined) dropUnreadableSource(request, config.readFrom, can);
    }
  }
}

/** zot's UI marks its requests with this header; only they may authenticate with the session cookie. */
export const UI_CLIENT_HEADER = 'x-zot-api-client';

export function isUiRequest(request: FastifyRequest): boolean {
  return request.headers[UI_CLIENT_HEADER] === 'zot-ui';
}

/**
 * Whether the session cookie speaks for this request: the UI header (zot's rule), or a page route
 * reached by a top-level navigation (Fetch Metadata says so; browsers without it send none) or by
 * a form post (whose CSRF token is checked before the handler).
 */
function sessionCookieCounts(request: FastifyRequest): boolean {
  if (isUiRequest(request)) return true;
  if (request.routeOptions.config?.page !== true) return false;
  if (request.method === 'POST') return true;
  const mode = request.headers['sec-fetch-mode'];
  const destination = request.headers['sec-fetch-dest'];
  return request.method === 'GET' && (mode === undefined || mode === 'navigate') && (destination === undefined || destination === 'document');
}

function credentialsOf(request: FastifyRequest, security: Security): Credentials {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) return { authorization };
  const cookie = request.cookies[SESSION_COOKIE];
  if (!sessionCookieCounts(request) || cookie === undefined) return {};
  const sessionId = unsignValue(security.cookieKeys, cookie);
  // A cookie that fails its signature is not ours: the caller is anonymous, as if it were absent.
  return sessionId === undefined ? {} : { sessionId };
}

function queryString(request: FastifyRequest, key: string): string | undefined {
  const value = (request.query as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : undefined;
}

function dropUnreadableSource(request: FastifyRequest, parameter: string, can: RouteAccess['can']): void {
  const query = request.query as Record<string, unknown>;
  const source = query[parameter];
  if (typeof source === 'string' && isValidName(source) && !can('read', source)) delete query[parameter];
}
