/**
 * Whether a request that a browser may have sent on its own (it carries the session cookie) comes
 * from Berth's own pages. Browsers say where a request comes from in `Origin` and, in Fetch
 * Metadata, `Sec-Fetch-Site`; a client that sends neither is not a browser acting for a page of
 * another site. Checked on every cookie-authenticated state change (access.ts) and on every form
 * post (csrf.ts), so the defence holds even if CORS is ever opened (zot has `http.allowOrigin`).
 */
import type { FastifyRequest } from 'fastify';

function isOwnOrigin(origin: string, request: FastifyRequest, externalUrl: string | undefined): boolean {
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false; // `Origin: null` (sandboxed or privacy-redirected): not ours.
  }
  return host === request.host || (externalUrl !== undefined && host === new URL(externalUrl).host);
}

/** Why the request is not from Berth's own pages, or undefined when nothing says so. */
export function crossSiteReason(request: FastifyRequest, externalUrl: string | undefined): string | undefined {
  const site = request.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return `sent from another site (${site})`;
  const origin = request.headers.origin;
  if (origin !== undefined && !isOwnOrigin(origin, request, externalUrl)) return 'sent from another origin';
  return undefined;
}
