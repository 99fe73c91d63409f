/**
 * The origin browsers use to reach Berth, for URLs it hands out (OIDC redirect URI, post-logout
 * redirect): `http.externalUrl` when set, else the address Berth listens on. Behind a proxy, set
 * externalUrl: a Host header is the client's word and is used only when listening on every address.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

export function publicOrigin(app: FastifyInstance, request: FastifyRequest, externalUrl: string | undefined): string {
  if (externalUrl) return new URL(externalUrl).origin;
  const address = app.server.address();
  if (typeof address !== 'object' || address === null || address.address === '0.0.0.0' || address.address === '::') {
    return `${request.protocol}://${request.host}`;
  }
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${request.protocol}://${host}:${address.port}`;
}

/**
 * Where to send the browser after sign-in: a same-origin path, or a URL on an allowed origin (the
 * public origin, `callbackAllowOrigins`). Anything else is `/`: never an open redirect.
 */
export function safeCallback(callbackUi: string | undefined, origin: string, allowedOrigins: string[]): string {
  if (callbackUi === undefined || callbackUi === '') return '/';
  // Control characters are what the check is for: a path with them is no safe path.
  // eslint-disable-next-line no-control-regex
  if (/^\/(?![/\\])/.test(callbackUi) && !/[\u0000-\u001f]/.test(callbackUi)) return callbackUi;
  try {
    const target = new URL(callbackUi);
    const allowed = [origin, ...allowedOrigins.map((allowedOrigin) => new URL(allowedOrigin).origin)];
    return allowed.includes(target.origin) ? target.href : '/';
  } catch {
    return '/';
  }
}
