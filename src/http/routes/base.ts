/**
 * `GET /v2/`: the API version check every client starts with. From the UI (header
 * `X-ZOT-API-CLIENT: zot-ui`) with a password, it is also zot's password sign-in: a session starts.
 */
import type { FastifyInstance } from 'fastify';
import { HTPASSWD } from '../../auth/authenticator.js';
import { isUiRequest } from '../access.js';
import { startSession } from '../session-cookies.js';

export async function baseRoutes(app: FastifyInstance): Promise<void> {
  app.get('/v2/', { config: { action: 'none' } }, async (request, reply) => {
    const { identity } = request.access;
    if (identity.method === 'htpasswd' && isUiRequest(request)) {
      request.auditEvent = 'sign-in';
      // No groups in the session: they come from the config at each request (authenticator.ts).
      await startSession(app.security, request, reply, { username: identity.username!, groups: [], provider: HTPASSWD });
    }
    return reply.type('application/json').send({});
  });
}
