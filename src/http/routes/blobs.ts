/** `/v2/<name>/blobs/<digest>`: GET (whole or one byte range), HEAD and DELETE. */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { requireDigest, type Digest } from '../../oci/digest.js';
import { parseRange } from '../range.js';

type BlobRequest = { Params: { name: string; digest: string } };

function describe(reply: FastifyReply, digest: Digest): FastifyReply {
  return reply
    .type('application/octet-stream')
    .header('docker-content-digest', digest.value)
    .header('etag', `"${digest.value}"`)
    .header('accept-ranges', 'bytes');
}

export async function blobRoutes(app: FastifyInstance): Promise<void> {
  const blobs = app.registry.blobs;

  app.head<BlobRequest>('/v2/:name/blobs/:digest', { config: { action: 'read' } }, async (request, reply) => {
    const digest = requireDigest(request.params.digest);
    const size = await blobs.size(request.params.name, digest);
    return describe(reply, digest).header('content-length', size).send();
  });

  app.get<BlobRequest>('/v2/:name/blobs/:digest', { config: { action: 'read' } }, async (request, reply) => {
    const { name } = request.params;
    const digest = requireDigest(request.params.digest);
    const rangeHeader = request.headers.range;
    if (rangeHeader === undefined) {
      const { size, stream } = await blobs.read(name, digest);
      return describe(reply, digest).header('content-length', size).send(stream);
    }
    const range = parseRange(rangeHeader, await blobs.size(name, digest));
    const { size, stream } = await blobs.read(name, digest, range);
    return describe(reply, digest)
      .code(206)
      .header('content-range', `bytes ${range!.start}-${range!.end}/${size}`)
      .header('content-length', range!.end - range!.start + 1)
      .send(stream);
  });

  app.delete<BlobRequest>('/v2/:name/blobs/:digest', { config: { action: 'delete' } }, async (request, reply) => {
    await blobs.delete(request.params.name, requireDigest(request.params.digest));
    return reply.code(202).header('content-length', 0).send();
  });
}
