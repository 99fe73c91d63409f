/** `GET /v2/<name>/referrers/<digest>`: manifests whose subject is the digest, as an OCI index. */
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyInstance } from 'fastify';
import { requireDigest } from '../../oci/digest.js';
import { OCI_INDEX } from '../../oci/media-types.js';
import { pathParams } from './path-params.js';

export async function referrerRoutes(app: FastifyInstance): Promise<void> {
  app.withTypeProvider<JsonSchemaToTsProvider>().get(
    '/v2/:name/referrers/:digest',
    {
      schema: { params: pathParams.nameDigest, querystring: { type: 'object', properties: { artifactType: { type: 'string', maxLength: 255 } } } },
      config: { action: 'read' },
    },
    async (request, reply) => {
      const { name } = request.params;
      const digest = requireDigest(request.params.digest);
      const { artifactType } = request.query;
      const index = await app.registry.listings.referrers(name, digest, artifactType);
      if (artifactType !== undefined) reply.header('oci-filters-applied', 'artifactType');
      // A Buffer, so Fastify sends the media type exactly as the spec names it (no charset added).
      return reply.type(OCI_INDEX).send(Buffer.from(JSON.stringify(index)));
    },
  );
}
