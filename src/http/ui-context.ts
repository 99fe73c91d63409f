/**
 * What every web UI route shares: the static assets, the browse service, who the viewer is, the
 * public host name for pull commands, and the security headers of every UI response.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RepositoryInsights } from '../browse/repository-insights.js';
import type { AssetBundle } from '../ui/assets.js';
import type { Viewer } from '../ui/layout.js';
import type { PullTarget } from '../ui/pages/pull.js';
import { formToken } from './csrf.js';
import { publicOrigin } from './public-origin.js';

export interface UiContext {
  assets: AssetBundle;
  insights: RepositoryInsights;
}

/** The viewer of a page; `forms` asks for a CSRF token even when signed out (the sign-in form). */
export function viewerOf(request: FastifyRequest, reply: FastifyReply, forms = false): Viewer {
  const security = request.server.security;
  const identity = request.access?.identity;
  const username = identity?.username;
  const needsToken = forms || username !== undefined;
  return {
    ...(username !== undefined ? { username } : {}),
    ...(needsToken ? { csrf: formToken(request, reply, security) } : {}),
    session: identity?.method === 'session',
    signInAvailable: security.authenticator.configured,
  };
}

/** The registry's host as clients must name it: from http.externalUrl, else where Berth listens. */
export function pullTarget(app: FastifyInstance, request: FastifyRequest): PullTarget {
  const origin = new URL(publicOrigin(app, request, request.server.security.externalUrl));
  return { host: origin.host, insecure: origin.protocol === 'http:' };
}

/** Origins a form may lead to: Berth, and the providers' sign-out pages (sign-out redirects there). */
function formTargets(app: FastifyInstance): string {
  const origins = new Set<string>();
  for (const provider of app.security.providers.values()) {
    origins.add(new URL(provider.config.issuer).origin);
    const endSession = provider.endSessionUrl(undefined, 'https://berth.invalid/');
    if (endSession) origins.add(new URL(endSession).origin);
  }
  return ["'self'", ...origins].join(' ');
}

/**
 * Headers of every UI response, error pages included (onSend): no inline script or style at all,
 * nothing from other origins, no framing (clickjacking), no MIME sniffing, no referrer off-site.
 */
export function addSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header(
      'content-security-policy',
      `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action ${formTargets(app)}; frame-ancestors 'none'; base-uri 'none'`,
    );
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'same-origin');
    reply.header('x-frame-options', 'DENY');
    reply.header('cross-origin-opener-policy', 'same-origin');
    reply.header('cross-origin-resource-policy', 'same-origin');
    return payload;
  });
}
