/**
 * `/v2/<name>/blobs/uploads/`: start (POST, monolithic with `?digest=`, mount with `?mount=&from=`),
 * chunks (PATCH), status (GET), finish (PUT `?digest=`) and cancel (DELETE).
 * Spec: distribution-spec v1.1 "Pushing blobs" and "Mounting a blob from another repository".
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { requireDigest } from '../../oci/digest.js';
import { RegistryError } from '../../oci/errors.js';
import { parseContentRange } from '../range.js';
import { bodyStream, contentLength } from '../request-body.js';

type SessionRequest = { Params: { name: string; id: string } };
type StartRequest = { Params: { name: string }; Querystring: { digest?: string; mount?: string; from?: string } };

function sessionHeaders(reply: FastifyReply, name: string, id: string, offset: number): FastifyReply {
  return reply
    .header('location', `/v2/${name}/blobs/uploads/${id}`)
    .header('docker-upload-uuid', id)
    .header('range', `0-${Math.max(offset - 1, 0)}`)
    .header('content-length', 0);
}

function created(reply: FastifyReply, name: string, digest: string): FastifyReply {
  return reply.code(201).header('location', `/v2/${name}/blobs/${digest}`).header('docker-content-digest', digest).header('content-length', 0);
}

const stringQuery = (...keys: string[]) => ({
  type: 'object',
  properties: Object.fromEntries(keys.map((key) => [key, { type: 'string', maxLength: 512 }])),
});

export async function uploadRoutes(app: FastifyInstance): Promise<void> {
  const blobs = app.registry.blobs;

  app.post<StartRequest>(
    '/v2/:name/blobs/uploads/',
    { schema: { querystring: stringQuery('digest', 'mount', 'from') }, config: { action: 'create', readFrom: 'from', streamsBody: true } },
    async (request, reply) => {
      const { name } = request.params;
      const { digest, mount, from } = request.query;
      if (mount !== undefined && from !== undefined) {
        const mounted = await blobs.mount(name, from, requireDigest(mount));
        if (mounted) return created(reply, name, mounted).send();
      }
      const body = bodyStream(request);
      if (digest === undefined && body !== undefined) throw new RegistryError('BLOB_UPLOAD_INVALID', 'a body needs ?digest= (monolithic upload)');
      const started = await blobs.start(name, digest === undefined ? undefined : requireDigest(digest), body);
      if (started.kind === 'created') return created(reply, name, started.digest).send();
      return sessionHeaders(reply.code(202), name, started.id, started.offset).send();
    },
  );

  app.get<SessionRequest>('/v2/:name/blobs/uploads/:id', { config: { action: 'create' } }, async (request, reply) => {
    const { name, id } = request.params;
    const offset = await blobs.status(name, id);
    return sessionHeaders(reply.code(204), name, id, offset).send();
  });

  app.patch<SessionRequest>('/v2/:name/blobs/uploads/:id', { config: { action: 'create', streamsBody: true } }, async (request, reply) => {
    const { name, id } = request.params;
    const start = parseContentRange(request.headers['content-range'], contentLength(request));
    const body = bodyStream(request);
    const offset = body ? await blobs.append(name, id, body, start) : await blobs.status(name, id);
    return sessionHeaders(reply.code(202), name, id, offset).send();
  });

  app.put<SessionRequest & { Querystring: { digest?: string } }>(
    '/v2/:name/blobs/uploads/:id',
    { schema: { querystring: stringQuery('digest') }, config: { action: 'create', streamsBody: true } },
    async (request, reply) => {
      const { name, id } = request.params;
      if (request.query.digest === undefined) throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required');
      const digest = requireDigest(request.query.digest);
      await blobs.finish(name, id, digest, bodyStream(request));
      return created(reply, name, digest.value).send();
    },
  );

  app.delete<SessionRequest>('/v2/:name/blobs/uploads/:id', { config: { action: 'create' } }, async (request, reply) => {
    const { name, id } = request.params;
    await blobs.cancel(name, id);
    return reply.code(204).send();
  });
}
