/** `GET /ui/assets/<file>`: the UI's CSS, script and icon; cached for a year when the URL names the version. */
import type { FastifyInstance } from 'fastify';
import { RegistryError } from '../../oci/errors.js';
import type { UiContext } from '../ui-context.js';

export async function uiAssetRoutes(app: FastifyInstance, context: UiContext): Promise<void> {
  app.get<{ Params: { file: string }; Querystring: { v?: string } }>('/ui/assets/:file', { config: { action: 'public' } }, async (request, reply) => {
    const asset = context.assets.files.get(request.params.file);
    if (!asset) throw new RegistryError('ROUTE_UNKNOWN', { path: request.url.split('?')[0] });
    const etag = `"${asset.version}"`;
    reply.header('etag', etag).header('cache-control', request.query.v === asset.version ? 'public, max-age=31536000, immutable' : 'no-cache');
    if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type(asset.contentType).send(asset.body);
  });
}
