/** `/v2/<name>/manifests/<reference>`: GET, HEAD, PUT and DELETE by tag or digest. */
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Descriptor } from '../../oci/manifest.js';
import { MAX_MANIFEST_BYTES, parseReference, type Reference } from '../../registry/manifests.js';
import { auditFacts } from '../audit.js';
import { namespaceOf, pullManifest } from '../pull-through.js';
import { readBounded } from '../request-body.js';
import { pathParams } from './path-params.js';

const schema = { params: pathParams.nameReference };

/** The audit facts of a reference: the tag, or the digest. */
const referenceFacts = (reference: Reference) => (reference.tag !== undefined ? { tag: reference.tag } : { digest: reference.digest.value });

function describe(reply: FastifyReply, descriptor: Descriptor): FastifyReply {
  return reply.type(descriptor.mediaType).header('docker-content-digest', descriptor.digest).header('etag', `"${descriptor.digest}"`).header('content-length', descriptor.size);
}

export async function manifestRoutes(app: FastifyInstance): Promise<void> {
  const manifests = app.registry.manifests;
  const typed = app.withTypeProvider<JsonSchemaToTsProvider>();

  typed.get('/v2/:name/manifests/:reference', { schema, config: { action: 'read' } }, async (request, reply) => {
    const { descriptor, bytes } = await pullManifest(app, request, request.params.name, parseReference(request.params.reference, 'lookup'));
    return describe(reply, { ...descriptor, size: bytes.length }).send(bytes);
  });

  typed.head('/v2/:name/manifests/:reference', { schema, config: { action: 'read' } }, async (request, reply) => {
    const reference = parseReference(request.params.reference, 'lookup');
    // A mirrored repository answers a HEAD as a GET would (a miss starts the fetch); others from the index alone.
    const descriptor = app.pullThrough?.sourcesOf(request.params.name, namespaceOf(request)).length
      ? (await pullManifest(app, request, request.params.name, reference)).descriptor
      : await manifests.head(request.params.name, reference);
    return describe(reply, descriptor).send();
  });

  typed.put('/v2/:name/manifests/:reference', { schema, config: { action: 'create', permits: ['update'], audit: 'manifest-push' } }, async (request, reply) => {
    const { name } = request.params;
    const reference = parseReference(request.params.reference, 'push');
    auditFacts(request, { repository: name, ...referenceFacts(reference) });
    const bytes = await readBounded(request, MAX_MANIFEST_BYTES, 'MANIFEST_TOO_LARGE');
    const pushed = await manifests.put(name, reference, bytes, request.headers['content-type'], { mayMoveTag: request.access.permits.update === true, actor: request.access.identity });
    auditFacts(request, { outcome: 'ok', digest: pushed.digest });
    if (pushed.subject) reply.header('oci-subject', pushed.subject);
    return reply.code(201).header('location', `/v2/${name}/manifests/${pushed.digest}`).header('docker-content-digest', pushed.digest).header('content-length', 0).send();
  });

  typed.delete('/v2/:name/manifests/:reference', { schema, config: { action: 'delete', permits: ['detectManifestCollision'], audit: 'manifest-delete' } }, async (request, reply) => {
    const detectCollision = request.access.permits.detectManifestCollision === true;
    const reference = parseReference(request.params.reference, 'lookup');
    auditFacts(request, { repository: request.params.name, ...referenceFacts(reference) });
    await manifests.delete(request.params.name, reference, { detectCollision, actor: request.access.identity });
    auditFacts(request, { outcome: 'ok' });
    return reply.code(202).header('content-length', 0).send();
  });
}
