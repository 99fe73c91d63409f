/**
 * `log.audit`: one JSON line per state change and per sign-in attempt, saying who did what, where,
 * and how it ended. Its own file, apart from the operational log, so it can be kept longer and
 * shipped elsewhere.
 *
 * Nothing here is guessed. A route that changes state declares its event (`config.audit`; every
 * non-GET route must, or it cannot be registered), and its handler attaches what it knows with
 * `auditFacts`: the repository, tag, digest, key id, the acting or attempted user, and the outcome
 * once it is decided. Refusals decided before the handler get their facts from the access hook
 * (401, 403, failed credentials, blocked sign-ins); an error thrown on the way gets its outcome
 * from the error itself. The outcome is set once, by whoever decides it first. Reads are not
 * audited, except failed credential checks (event `authenticate`, on any route).
 *
 * Never written: passwords, API keys, cookies, authorization codes, query strings.
 */
import type { FastifyError, FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { pino, type Logger } from 'pino';
import { RegistryError } from '../oci/errors.js';

/**
 * How a request ended, as the one who decided it said: `ok`; `refused` (the caller may not: bad or
 * missing credentials, no right, a forged or expired sign-in, an invalid request); `blocked` (the
 * sign-in limits refused an attempt unchecked); `failed` (it could not be completed: an identity
 * provider or backend failed, or Berth did).
 */
export type AuditOutcome = 'ok' | 'refused' | 'blocked' | 'failed';

/** What a handler knows of the state change it made (or refused): the audit line's facts. */
export interface AuditFacts {
  /** Overrides the route's declared event (a mount that became an upload, a conditional sign-in). */
  event?: string;
  outcome?: AuditOutcome;
  /** The acting identity when it is not the request's (a sign-in names who signed in, a sign-out who left). */
  user?: string | null;
  /** A user name that was tried and not accepted (never a password). */
  attemptedUser?: string;
  provider?: string;
  repository?: string;
  tag?: string;
  digest?: string;
  /** The repository a blob was mounted from. */
  from?: string;
  /** An upload session's id. */
  upload?: string;
  keyId?: string;
  label?: string;
  reason?: string;
  /** The upstream registry a pull-through fetch went to. */
  upstream?: string;
  /** Whose pull made Berth fetch (the line's `user` is Berth's own `sync`). */
  onBehalfOf?: string | null;
}

/** A route's audit event, for every request (a string) or for the requests a function names. */
export type AuditDeclaration = string | ((request: FastifyRequest) => string | undefined);

declare module 'fastify' {
  interface FastifyContextConfig {
    /** This route changes state (or signs in): each of its requests gets one audit line under this event. */
    audit?: AuditDeclaration;
  }
  interface FastifyRequest {
    /** Facts attached for the audit line (see `auditFacts`). */
    audit?: AuditFacts;
  }
}

/** Facts longer than this are cut: a user name or reason is never a place to store a document. */
const MAX_FACT = 256;
const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Attaches facts to the request's audit line; later calls add to earlier ones. An outcome or a
 * reason once given stays: the first to decide knows best why (a handler's "replay" over the
 * generic "expired", the access hook's words over the error's code).
 */
export function auditFacts(request: FastifyRequest, facts: AuditFacts): void {
  const current = request.audit ?? {};
  request.audit = { ...current, ...facts, ...(current.outcome !== undefined ? { outcome: current.outcome } : {}), ...(current.reason !== undefined ? { reason: current.reason } : {}) };
}

/** The event the route declares for this request, if it is audited. */
export function declaredEvent(request: FastifyRequest): string | undefined {
  const declared = request.routeOptions.config?.audit;
  return typeof declared === 'function' ? declared(request) : declared;
}

/**
 * A credential check that failed or was blocked, on any route: under the route's event when it
 * declares one, else as `authenticate` (reads are otherwise not audited).
 */
export function auditCredentials(request: FastifyRequest, facts: AuditFacts & { outcome: 'refused' | 'blocked' }): void {
  auditFacts(request, { ...(declaredEvent(request) === undefined ? { event: 'authenticate' } : {}), ...facts });
}

/** The reason a refusal gives, from the error: its code and, when it is Berth's own words, its detail. */
export function reasonOf(error: unknown): string {
  if (!(error instanceof RegistryError)) return 'INTERNAL';
  const { detail } = error;
  if (detail === undefined) return error.key;
  return `${error.key}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`.slice(0, MAX_FACT);
}

/**
 * Fails at start-up when a route that is not a read declares no audit event: a state change
 * cannot be registered without its audit line.
 */
export function requireAuditedWrites(app: FastifyInstance, prefixes: readonly string[]): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    if (!prefixes.some((prefix) => route.url.startsWith(prefix))) return;
    const writes = ([] as string[]).concat(route.method).some((method) => !READS.has(method));
    if (writes && (route.config as { audit?: AuditDeclaration } | undefined)?.audit === undefined)
      throw new Error(`route ${String(route.method)} ${route.url} changes state but declares no audit event`);
  });
}

export function openAuditLog(file: string): Logger {
  return pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: file, append: true, mkdir: true, sync: false }));
}

/**
 * Writes the audit lines: after the response, one per request whose route declares an event or
 * whose handler or access check attached facts. A declared route whose handler reported no outcome
 * is a defect: its line says `unknown`, and the log says which route.
 */
export function auditRequests(app: FastifyInstance, audit: Logger): void {
  app.addHook('onError', async (request, _reply, error: FastifyError) => {
    auditFacts(request, { outcome: error instanceof RegistryError && error.status < 500 ? 'refused' : 'failed', reason: reasonOf(error) });
  });
  app.addHook('onResponse', async (request, reply) => {
    const facts = request.audit;
    const declared = declaredEvent(request);
    const event = facts?.event ?? declared;
    if (event === undefined) return;
    if (facts?.outcome === undefined) request.log.error({ route: request.routeOptions.url, event }, 'audit: the handler reported no outcome');
    const { event: _event, user, outcome, ...rest } = facts ?? {};
    audit.info({
      event,
      outcome: outcome ?? 'unknown',
      user: user !== undefined ? user : (request.access?.identity.username ?? null),
      via: request.access?.identity.method ?? null,
      ...Object.fromEntries(Object.entries(rest).map(([fact, value]) => [fact, typeof value === 'string' ? value.slice(0, MAX_FACT) : value])),
      method: request.method,
      path: (request.originalUrl ?? request.url).split('?')[0],
      status: reply.statusCode,
      ip: request.ip,
    });
  });
  app.addHook('onClose', async () => audit.flush());
}
