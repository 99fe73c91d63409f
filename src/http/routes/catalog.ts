/** `GET /v2/_catalog`: the repositories the caller may read, sorted, with `n` / `last` pagination. */
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyInstance } from 'fastify';
import { listingQuerySchema, nextLink } from './listing-query.js';

export async function catalogRoutes(app: FastifyInstance): Promise<void> {
  app
    .withTypeProvider<JsonSchemaToTsProvider>()
    .get('/v2/_catalog', { schema: { querystring: listingQuerySchema }, config: { action: 'catalog', invalidRequest: 'PAGINATION_NUMBER_INVALID' } }, async (request, reply) => {
      const { n, last } = request.query;
      const { access } = request;
      const page = await app.registry.listings.repositories(n, last, access.readsEverything ? undefined : (name) => access.can('read', name));
      const link = nextLink('/v2/_catalog', page, n);
      if (link) reply.header('link', link);
      return reply.type('application/json').send({ repositories: page.items });
    });
}
