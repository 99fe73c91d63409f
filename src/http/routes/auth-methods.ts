/**
 * `GET /v2/_zot/ext/mgmt`: zot's description of the ways to sign in, which its UI (and Berth's)
 * reads before anyone has signed in. Only the presence of each method is shown, never paths.
 */
import type { FastifyInstance } from 'fastify';

export async function authMethodRoutes(app: FastifyInstance): Promise<void> {
  const security = app.security;
  app.get('/v2/_zot/ext/mgmt', { config: { action: 'public' } }, async (_request, reply) => {
    const auth: Record<string, unknown> = {};
    if (security.htpasswd) auth.htpasswd = {};
    if (security.providers.size > 0) {
      auth.openid = {
        providers: Object.fromEntries(
          [...security.providers.values()].map((provider) => [provider.config.key, { name: provider.config.name, ...(provider.unavailable ? { unavailable: provider.unavailable } : {}) }]),
        ),
      };
    }
    if (security.apiKeysEnabled) auth.apikey = true;
    return reply.send({ distSpecVersion: '1.1.1', binaryType: '-berth', http: { auth } });
  });
}
