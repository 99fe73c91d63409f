/**
 * `log.audit`: one JSON line per mutating request (pushes, deletes, sign-ins and sign-outs, API
 * keys created or revoked), saying who did what, where, and how it ended. Its own file, apart from
 * the operational log, so it can be kept longer and shipped elsewhere. Query strings are left out:
 * the sign-in callback carries the authorization code there.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { pino, type Logger } from 'pino';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * What a handler knows of the state change it made (or refused): the audit line's facts. Handlers
 * attach them with `auditFacts`; later calls add to earlier ones.
 */
export interface AuditFacts {
  event: string;
  /** `ok`, `refused` (not allowed, bad credentials) or `failed` (an error on Berth's side). */
  outcome?: 'ok' | 'refused' | 'failed';
  /** The acting identity when it is not the request's (a sign-in names who signed in). */
  user?: string | null;
  /** A user name that was tried and not accepted (never a password). */
  attemptedUser?: string;
  provider?: string;
  repository?: string;
  tag?: string;
  digest?: string;
  keyId?: string;
  reason?: string;
  [fact: string]: unknown;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by a route whose GET changes state (a sign-in), so the audit log records it. */
    auditEvent?: string;
    /** Facts a handler attached for the audit line (see `auditFacts`). */
    audit?: AuditFacts;
  }
}

/** Attaches facts to the request's audit line. */
export function auditFacts(request: FastifyRequest, facts: Partial<AuditFacts> & { event?: string }): void {
  request.audit = { ...(request.audit ?? { event: facts.event ?? 'unknown' }), ...facts } as AuditFacts;
}

function eventOf(request: FastifyRequest): string | undefined {
  if (request.audit) return request.audit.event;
  if (request.auditEvent) return request.auditEvent;
  const route = request.routeOptions.url ?? '';
  if (route.startsWith('/zot/auth/callback/')) return 'sign-in';
  if (READS.has(request.method)) return undefined;
  if (route.startsWith('/zot/auth/logout')) return 'sign-out';
  if (route.startsWith('/zot/auth/apikey')) return request.method === 'POST' ? 'api-key-create' : 'api-key-revoke';
  if (route.includes('/manifests/')) return request.method === 'DELETE' ? 'manifest-delete' : 'manifest-push';
  if (route.includes('/blobs/uploads/')) return request.method === 'DELETE' ? 'upload-cancel' : 'blob-upload';
  if (route.includes('/blobs/')) return 'blob-delete';
  return `${request.method.toLowerCase()} ${route}`;
}

export function openAuditLog(file: string): Logger {
  return pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: file, append: true, mkdir: true, sync: false }));
}

export function auditRequests(app: FastifyInstance, audit: Logger): void {
  app.addHook('onResponse', async (request, reply) => {
    const event = eventOf(request);
    if (!event) return;
    const params = request.params as { name?: string; reference?: string; digest?: string; provider?: string };
    audit.info({
      event,
      user: request.access?.identity.username ?? null,
      via: request.access?.identity.method ?? null,
      method: request.method,
      path: (request.originalUrl ?? request.url).split('?')[0],
      ...(params.name ? { repository: params.name } : {}),
      ...(params.reference || params.digest ? { reference: params.reference ?? params.digest } : {}),
      ...(params.provider ? { provider: params.provider } : {}),
      status: reply.statusCode,
      result: reply.statusCode < 400 ? 'ok' : 'refused',
      ip: request.ip,
      ...(request.audit ?? {}),
    });
  });
  app.addHook('onClose', async () => audit.flush());
}
