/**
 * API keys on zot's endpoint `/zot/auth/apikey`: list (GET), create (POST, the key shown once) and
 * revoke (DELETE `?id=`), each for the signed-in user's own keys only. Shapes follow zot's, so its
 * UI and scripts work unchanged.
 */
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyInstance } from 'fastify';
import { ApiKeyLimitError, keyOwnerOf, type ApiKeyView } from '../../auth/api-keys.js';
import { RegistryError } from '../../oci/errors.js';
import { auditFacts } from '../audit.js';
import { readBounded } from '../request-body.js';

const MAX_BODY = 8 * 1024;

/** zot's field names: `uuid`, `expirationDate`, `generatedBy`. */
function zotShape(view: ApiKeyView) {
  return {
    uuid: view.id,
    label: view.label,
    scopes: [] as string[],
    createdAt: view.createdAt,
    expirationDate: view.expiresAt ?? null,
    isExpired: view.isExpired,
    lastUsed: view.lastUsed ?? null,
    creatorUa: view.creatorUa ?? '',
    generatedBy: 'manual',
  };
}

function parseRequest(body: Buffer): { label: string; expiresAt?: Date } {
  let document: unknown;
  try {
    document = JSON.parse(body.toString('utf8'));
  } catch {
    throw new RegistryError('BODY_INVALID', 'the body must be JSON: {"label": "...", "expirationDate": "<RFC 3339>"}');
  }
  const { label, expirationDate } = (document ?? {}) as { label?: unknown; expirationDate?: unknown };
  if (typeof label !== 'string' || label.trim() === '' || label.length > 100) throw new RegistryError('BODY_INVALID', 'label must be a non-empty string of at most 100 characters');
  if (expirationDate === undefined || expirationDate === null || expirationDate === '') return { label };
  const expiresAt = typeof expirationDate === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(expirationDate) ? new Date(expirationDate) : undefined;
  if (!expiresAt || Number.isNaN(expiresAt.getTime())) throw new RegistryError('BODY_INVALID', 'expirationDate must be an RFC 3339 date-time');
  if (expiresAt.getTime() <= Date.now()) throw new RegistryError('BODY_INVALID', 'expirationDate must be in the future');
  return { label, expiresAt };
}

export async function apiKeyRoutes(app: FastifyInstance): Promise<void> {
  const security = app.security;
  const enabled = () => {
    if (!security.apiKeysEnabled) throw new RegistryError('UNSUPPORTED', 'API keys are not enabled (http.auth.apikey)');
  };

  app.get('/zot/auth/apikey', { config: { action: 'signedIn' } }, async (request, reply) => {
    enabled();
    const keys = await security.apiKeys.list(request.access.identity.username!);
    return reply.header('cache-control', 'no-store').send({ apiKeys: keys.map(zotShape) });
  });

  app.post('/zot/auth/apikey', { config: { action: 'signedIn', audit: 'api-key-create' } }, async (request, reply) => {
    enabled();
    const { label, expiresAt } = parseRequest(await readBounded(request, MAX_BODY, 'BODY_TOO_LARGE'));
    let created;
    try {
      created = await security.apiKeys.create(keyOwnerOf(request.access.identity), label, expiresAt, request.headers['user-agent']);
    } catch (error) {
      if (error instanceof ApiKeyLimitError) auditFacts(request, { outcome: 'refused', label, reason: 'the user holds the most API keys allowed' });
      throw error;
    }
    const { key, record } = created;
    auditFacts(request, { outcome: 'ok', keyId: record.id, label });
    request.log.info({ owner: record.owner, id: record.id, label }, 'API key created');
    return reply
      .code(201)
      .header('cache-control', 'no-store')
      .send({ ...zotShape({ ...record, isExpired: false }), apiKey: key });
  });

  app
    .withTypeProvider<JsonSchemaToTsProvider>()
    .delete(
      '/zot/auth/apikey',
      { schema: { querystring: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } } }, config: { action: 'signedIn', audit: 'api-key-revoke' } },
      async (request, reply) => {
        auditFacts(request, { keyId: request.query.id });
        enabled();
        const owner = request.access.identity.username!;
        if (!(await security.apiKeys.revoke(owner, request.query.id))) throw new RegistryError('BODY_INVALID', { id: request.query.id, reason: 'no such key of yours' });
        auditFacts(request, { outcome: 'ok' });
        request.log.info({ owner, id: request.query.id }, 'API key revoked');
        return reply.send({});
      },
    );
}
