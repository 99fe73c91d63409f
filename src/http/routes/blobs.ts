/** `/v2/<name>/blobs/<digest>`: GET (whole or one byte range), HEAD and DELETE. */
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { requireDigest, type Digest } from '../../oci/digest.js';
import { auditFacts } from '../audit.js';
import { isUnknownContent, pullBlob } from '../pull-through.js';
import { parseRange, sliceOf } from '../range.js';
import { sendBlob } from '../send-blob.js';
import { pathParams } from './path-params.js';

const schema = { params: pathParams.nameDigest };

function describe(reply: FastifyReply, digest: Digest): FastifyReply {
  return reply.type('application/octet-stream').header('docker-content-digest', digest.value).header('etag', `"${digest.value}"`).header('accept-ranges', 'bytes');
}

export async function blobRoutes(app: FastifyInstance): Promise<void> {
  const blobs = app.registry.blobs;
  const typed = app.withTypeProvider<JsonSchemaToTsProvider>();

  typed.head('/v2/:name/blobs/:digest', { schema, config: { action: 'read' } }, async (request, reply) => {
    const digest = requireDigest(request.params.digest);
    // A blob Berth does not hold is unknown to a HEAD even in a mirrored repository: a pushing client
    // (docker, podman) HEADs to skip uploads, and must not be told an upstream's blob is here.
    const size = await blobs.size(request.params.name, digest);
    return describe(reply, digest).header('content-length', size).send();
  });

  typed.get('/v2/:name/blobs/:digest', { schema, config: { action: 'read' } }, async (request, reply) => {
    const digest = requireDigest(request.params.digest);
    let reader;
    try {
      reader = await blobs.open(request.params.name, digest);
    } catch (error) {
      const pulled = isUnknownContent(error) ? await pullBlob(app, request, request.params.name, digest) : undefined;
      if (!pulled) throw error;
      // Streamed as it arrives; the Content-Length lets the client tell a cut download from a
      // complete one. A Range is answered from the stream once its bytes arrive (RFC 9110 §14.2),
      // when the upstream said how long the blob is; without that, whole (a server may ignore Range).
      describe(reply, digest);
      let range;
      try {
        range = pulled.size !== undefined && pulled.size > 0 ? parseRange(request.headers.range, pulled.size) : undefined;
      } catch (error) {
        pulled.body.destroy(); // this reader only: the download goes on for the store
        throw error;
      }
      if (range) {
        reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${pulled.size}`);
        return reply.header('content-length', range.end - range.start + 1).send(sliceOf(pulled.body, range.start, range.end));
      }
      if (pulled.size !== undefined) reply.header('content-length', pulled.size);
      return reply.send(pulled.body);
    }
    app.pullThrough?.blobHit(request.params.name);
    let range;
    try {
      range = parseRange(request.headers.range, reader.size);
    } catch (error) {
      await reader.close();
      throw error;
    }
    describe(reply, digest);
    if (range) {
      reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${reader.size}`);
    }
    const { start, end } = range ?? { start: 0, end: reader.size - 1 };
    reply.header('content-length', end - start + 1);
    if (reader.size === 0) {
      await reader.close();
      return reply.send();
    }
    await sendBlob(reply, reader, start, end);
    return reply;
  });

  typed.delete('/v2/:name/blobs/:digest', { schema, config: { action: 'delete', audit: 'blob-delete' } }, async (request, reply) => {
    const digest = requireDigest(request.params.digest);
    auditFacts(request, { repository: request.params.name, digest: digest.value });
    await blobs.delete(request.params.name, digest);
    auditFacts(request, { outcome: 'ok' });
    return reply.code(202).header('content-length', 0).send();
  });
}
