/** `GET /v2/`: the API version check every client starts with. */
import type { FastifyInstance } from 'fastify';

export async function baseRoutes(app: FastifyInstance): Promise<void> {
  app.get('/v2/', { config: { action: 'none' } }, async (_request, reply) => reply.type('application/json').send({}));
}
