/** The one place that turns failures into responses: the spec's error body from the error table. */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError, type ErrorKey } from '../oci/errors.js';
import { isValidName } from '../oci/names.js';
import { challengeScope } from '../workload/scopes.js';
import { isUiRequest } from './access.js';

// Fastify's own 413 comes from a parsed body (the UI's forms); manifests are bounded by readBounded.
const FASTIFY_STATUS_KEYS: Record<number, ErrorKey> = { 404: 'ROUTE_UNKNOWN', 413: 'BODY_TOO_LARGE' };

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The error a failed querystring or params schema maps to on this route (default BODY_INVALID). */
    invalidRequest?: ErrorKey;
  }
}

function toRegistryError(error: FastifyError & { code?: string }, invalidRequest: ErrorKey | undefined): RegistryError | undefined {
  if (error instanceof RegistryError) return error;
  if (error.validation) return new RegistryError(invalidRequest ?? 'BODY_INVALID', `${error.validationContext ?? 'request'} ${error.message}`);
  if (error.code === 'ENOSPC' || error.code === 'EDQUOT') return new RegistryError('STORAGE_FULL', undefined, { cause: error });
  const status = error.statusCode;
  if (status !== undefined && status >= 400 && status < 500) return new RegistryError(FASTIFY_STATUS_KEYS[status] ?? 'BODY_INVALID', error.message);
  return undefined;
}

/** What the error handler needs to know of authentication: the Basic challenge's realm, the Bearer challenge's parts. */
export interface ChallengeSource {
  realm: string;
  /** Set when http.auth.bearer is configured: /v2 then challenges with Bearer (Docker's token flow). */
  bearer: { realm?: string; service?: string } | undefined;
  externalUrl: string | undefined;
}

const quoted = (value: string) => `"${value.replaceAll('"', '')}"`;

/**
 * The `WWW-Authenticate` of a 401: Basic, or with http.auth.bearer on /v2 Docker's Bearer challenge
 * (distribution's token spec): the realm (the token endpoint), the service, and the scope the
 * request needs (`repository:<name>:pull|pull,push|delete`, `registry:catalog:*`).
 */
export function challengeOf(request: FastifyRequest, source: ChallengeSource): string {
  const { bearer } = source;
  if (!bearer || !request.url.startsWith('/v2')) return `Basic realm=${quoted(source.realm)}`;
  const base = source.externalUrl?.replace(/\/+$/, '') ?? `${request.protocol}://${request.host}`;
  const parts = [`realm=${quoted(bearer.realm ?? `${base}/zot/auth/token`)}`, `service=${quoted(bearer.service ?? request.host)}`];
  const name = (request.params as { name?: unknown } | undefined)?.name;
  if (typeof name === 'string' && isValidName(name)) parts.push(`scope=${quoted(challengeScope(name, request.method))}`);
  else if (request.routeOptions.config?.action === 'catalog') parts.push('scope="registry:catalog:*"');
  return `Bearer ${parts.join(',')}`;
}

/** The web UI's answer to a browser asking for an unknown address (when the UI is on). */
export type NotFoundPage = (request: FastifyRequest, reply: FastifyReply) => FastifyReply;

/** A browser's navigation to a page (not an API client, not the registry API, not the UI's script). */
function wantsPage(request: FastifyRequest): boolean {
  return request.method === 'GET' && !request.url.startsWith('/v2/') && !isUiRequest(request) && (request.headers.accept ?? '').includes('text/html');
}

export function installErrorHandling(app: FastifyInstance, challenge: () => ChallengeSource, notFoundPage: () => NotFoundPage | undefined = () => undefined): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    let known = toRegistryError(error, request.routeOptions.config?.invalidRequest);
    // A refusal of an anonymous caller is a challenge: they may still sign in (zot answers so too).
    const challengeable = request.access && request.access.identity.username === undefined && request.routeOptions.config?.action !== 'public';
    if (known?.key === 'DENIED' && challengeable) {
      known = new RegistryError('UNAUTHORIZED', known.detail);
    }
    if (reply.raw.headersSent || request.raw.socket?.destroyed !== false) {
      request.log.info({ err: error }, 'request ended before a response could be sent');
      return;
    }
    const answer = known ?? new RegistryError('INTERNAL', undefined, { cause: error });
    if (answer.key === 'STORAGE_FULL') request.log.error({ err: error, method: request.method, url: request.url }, 'storage full: no space left on the device; the write was undone');
    else if (answer.status >= 500) request.log.error({ err: error }, 'request failed');
    // An unread request body would otherwise be left on a keep-alive connection.
    if (!request.raw.readableEnded) reply.header('connection', 'close');
    // The UI handles 401 itself; a Basic challenge would make the browser pop up its own dialog.
    if (answer.status === 401 && !isUiRequest(request)) reply.header('www-authenticate', challengeOf(request, challenge()));
    return reply.code(answer.status).type('application/json').send(answer.toBody());
  });

  app.setNotFoundHandler((request, reply) => {
    const page = notFoundPage();
    if (page && wantsPage(request)) return page(request, reply);
    const answer = new RegistryError('ROUTE_UNKNOWN', { method: request.method, path: request.url.split('?')[0] });
    return reply.code(answer.status).type('application/json').send(answer.toBody());
  });
}

/**
 * Requests Node rejects before Fastify sees them (headers over 16 KiB, malformed HTTP) still get the
 * spec's JSON body rather than a bare status line.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const answer = error.code === 'HPE_HEADER_OVERFLOW' ? new RegistryError('HEADERS_TOO_LARGE') : new RegistryError('BODY_INVALID', 'malformed HTTP request');
  const body = JSON.stringify(answer.toBody());
  socket.end(`HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
