/**
 * `/v2/<name>/blobs/uploads/`: start (POST, monolithic with `?digest=`, mount with `?mount=&from=`),
 * chunks (PATCH), status (GET), finish (PUT `?digest=`) and cancel (DELETE).
 * Spec: distribution-spec v1.1 "Pushing blobs" and "Mounting a blob from another repository".
 * Audited as blob-upload-start, blob-mount, blob-upload-chunk, blob-upload-commit (a monolithic POST
 * too) and blob-upload-cancel; the status GET is a read.
 */
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireDigest } from '../../oci/digest.js';
import { RegistryError } from '../../oci/errors.js';
import { auditFacts } from '../audit.js';
import { parseContentRange } from '../range.js';
import { bodyStream, contentLength } from '../request-body.js';
import { pathParams } from './path-params.js';

const QUERY_VALUE = { type: 'string', maxLength: 512 } as const;
const startQuery = { type: 'object', properties: { digest: QUERY_VALUE, mount: QUERY_VALUE, from: QUERY_VALUE } } as const;
const finishQuery = { type: 'object', properties: { digest: QUERY_VALUE } } as const;
const session = { params: pathParams.nameId };

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

/**
 * A POST that names a blob to mount is a mount (it may become an upload start); a digest, a whole upload.
 * An audit declaration sees any route's request (and runs after a refused query too), so the query
 * is read as what it may be (unknown): only whether each key is present matters.
 */
function startEvent(request: FastifyRequest): string {
  const { query } = request;
  const names = (key: string) => typeof query === 'object' && query !== null && Reflect.get(query, key) !== undefined;
  if (names('mount')) return 'blob-mount';
  return names('digest') ? 'blob-upload-commit' : 'blob-upload-start';
}

export async function uploadRoutes(app: FastifyInstance): Promise<void> {
  const blobs = app.registry.blobs;
  const typed = app.withTypeProvider<JsonSchemaToTsProvider>();

  typed.post(
    '/v2/:name/blobs/uploads/',
    { schema: { params: pathParams.name, querystring: startQuery }, config: { action: 'create', readFrom: 'from', streamsBody: true, audit: startEvent } },
    async (request, reply) => {
      const { name } = request.params;
      const { digest, mount, from } = request.query;
      auditFacts(request, { repository: name });
      if (mount !== undefined && from !== undefined) {
        const mounted = await blobs.mount(name, from, requireDigest(mount));
        if (mounted) {
          auditFacts(request, { outcome: 'ok', from, digest: mounted });
          return created(reply, name, mounted).send();
        }
      }
      // No mount (the source lacks the blob, or the caller may not read it): an upload starts, as the spec says.
      if (mount !== undefined) auditFacts(request, { event: 'blob-upload-start' });
      const body = bodyStream(request);
      if (digest === undefined && body !== undefined) throw new RegistryError('BLOB_UPLOAD_INVALID', 'a body needs ?digest= (monolithic upload)');
      const started = await blobs.start(name, digest === undefined ? undefined : requireDigest(digest), body);
      if (started.kind === 'created') {
        auditFacts(request, { outcome: 'ok', digest: started.digest });
        return created(reply, name, started.digest).send();
      }
      auditFacts(request, { outcome: 'ok', upload: started.id });
      return sessionHeaders(reply.code(202), name, started.id, started.offset).send();
    },
  );

  typed.get('/v2/:name/blobs/uploads/:id', { schema: session, config: { action: 'create' } }, async (request, reply) => {
    const { name, id } = request.params;
    const offset = await blobs.status(name, id);
    return sessionHeaders(reply.code(204), name, id, offset).send();
  });

  typed.patch('/v2/:name/blobs/uploads/:id', { schema: session, config: { action: 'create', streamsBody: true, audit: 'blob-upload-chunk' } }, async (request, reply) => {
    const { name, id } = request.params;
    auditFacts(request, { repository: name, upload: id });
    const start = parseContentRange(request.headers['content-range'], contentLength(request));
    const body = bodyStream(request);
    const offset = body ? await blobs.append(name, id, body, start) : await blobs.status(name, id);
    auditFacts(request, { outcome: 'ok' });
    return sessionHeaders(reply.code(202), name, id, offset).send();
  });

  typed.put(
    '/v2/:name/blobs/uploads/:id',
    { schema: { ...session, querystring: finishQuery }, config: { action: 'create', streamsBody: true, audit: 'blob-upload-commit' } },
    async (request, reply) => {
      const { name, id } = request.params;
      auditFacts(request, { repository: name, upload: id });
      if (request.query.digest === undefined) throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required');
      const digest = requireDigest(request.query.digest);
      auditFacts(request, { digest: digest.value });
      await blobs.finish(name, id, digest, bodyStream(request));
      auditFacts(request, { outcome: 'ok' });
      return created(reply, name, digest.value).send();
    },
  );

  typed.delete('/v2/:name/blobs/uploads/:id', { schema: session, config: { action: 'create', audit: 'blob-upload-cancel' } }, async (request, reply) => {
    const { name, id } = request.params;
    auditFacts(request, { repository: name, upload: id });
    await blobs.cancel(name, id);
    auditFacts(request, { outcome: 'ok' });
    return reply.code(204).send();
  });
}
