/**
 * `GET /v2/`: the API version check every client starts with. From the UI (header
 * `X-ZOT-API-CLIENT: zot-ui`) with a password, it is also zot's password sign-in: a session starts,
 * and that request (only that one) is audited as a sign-in.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HTPASSWD } from '../../auth/authenticator.js';
import { isUiRequest } from '../access.js';
import { auditFacts } from '../audit.js';
import { startSession } from '../session-cookies.js';

const uiSignIn = (request: FastifyRequest) => (isUiRequest(request) && request.headers.authorization !== undefined ? 'sign-in' : undefined);

export async function baseRoutes(app: FastifyInstance): Promise<void> {
  app.get('/v2/', { config: { action: 'none', audit: uiSignIn } }, async (request, reply) => {
    const { identity } = request.access;
    if (uiSignIn(request) !== undefined) {
      if (identity.method === 'htpasswd') {
        await startSession(app.security, request, reply, { username: identity.username!, groups: [], provider: HTPASSWD });
        // No groups in the session: they come from the config at each request (authenticator.ts).
        auditFacts(request, { outcome: 'ok', provider: HTPASSWD });
      } else {
        // An API key (or an empty `Basic Og==`) answers the version check but starts no session.
        auditFacts(request, { outcome: 'refused', reason: 'only a password starts a browser session' });
      }
    }
    return reply.type('application/json').send({});
  });
}
