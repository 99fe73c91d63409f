/** `GET /v2/<name>/tags/list` with `n` / `last` pagination. */
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyInstance } from 'fastify';
import { listingQuerySchema, nextLink } from './listing-query.js';
import { pathParams } from './path-params.js';

export async function tagRoutes(app: FastifyInstance): Promise<void> {
  app
    .withTypeProvider<JsonSchemaToTsProvider>()
    .get(
      '/v2/:name/tags/list',
      { schema: { params: pathParams.name, querystring: listingQuerySchema }, config: { action: 'read', invalidRequest: 'PAGINATION_NUMBER_INVALID' } },
      async (request, reply) => {
        const { name } = request.params;
        const { n, last } = request.query;
        const page = await app.registry.listings.tags(name, n, last);
        const link = nextLink(`/v2/${name}/tags/list`, page, n);
        if (link) reply.header('link', link);
        return reply.type('application/json').send({ name, tags: page.items });
      },
    );
}
