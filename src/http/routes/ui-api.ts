/**
 * The web UI's JSON API, all under `/api/ui/` and documented in docs/web-ui.md. Authorized like every
 * route (declared actions, one hook): listings are `catalog` and filtered with the caller's read
 * permission before anything else is read; per-repository calls are `read` on the repository
 * named by the `repository` query parameter. A browser's session counts only with the
 * X-ZOT-API-CLIENT header, so these are safe from cross-site use; they change nothing.
 */
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyInstance } from 'fastify';
import { REPOSITORY_SORTS, TAG_SORTS } from '../../browse/repository-insights.js';
import { parseReference } from '../../registry/manifests.js';
import { currentSession } from '../session-cookies.js';
import { pullTarget, type UiContext } from '../ui-context.js';

export const MAX_PER_PAGE = 200;

// Literal schemas (const), so the type provider reads each handler's query type from them; `page`
// and `perPage` have defaults, so they are always there.
const text = <const N extends number>(maxLength: N) => ({ type: 'string', maxLength }) as const;
const paging = {
  page: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1 },
  perPage: { type: 'integer', minimum: 1, maximum: MAX_PER_PAGE, default: 50 },
} as const;

export async function uiApiRoutes(app: FastifyInstance, context: UiContext): Promise<void> {
  const { insights } = context;
  const security = app.security;
  const typed = app.withTypeProvider<JsonSchemaToTsProvider>();

  app.get('/api/ui/me', { config: { action: 'none' } }, async (request, reply) => {
    const { identity } = request.access;
    const session = identity.method === 'session' ? await currentSession(security, request) : undefined;
    return reply.send({
      username: identity.username ?? null,
      groups: identity.groups,
      method: identity.method ?? null,
      provider: session?.provider ?? null,
      access: security.policy.explain(identity),
      apiKeys: security.apiKeysEnabled,
    });
  });

  typed.get(
    '/api/ui/repositories',
    { schema: { querystring: { type: 'object', properties: { q: text(256), sort: { type: 'string', enum: REPOSITORY_SORTS }, ...paging } } }, config: { action: 'catalog' } },
    async (request, reply) => {
      const { q, sort = 'name', page, perPage } = request.query;
      const { access } = request;
      const visible = access.readsEverything ? undefined : (name: string) => access.can('read', name);
      const result = await insights.repositories({ visible, query: q ?? '', sort, page, perPage });
      const { items, ...pagination } = result;
      return reply.send({ repositories: items, ...pagination });
    },
  );

  typed.get(
    '/api/ui/repository',
    {
      schema: { querystring: { type: 'object', required: ['repository'], properties: { repository: text(256), q: text(128), sort: { type: 'string', enum: TAG_SORTS }, ...paging } } },
      config: { action: 'read', repositoryQuery: 'repository' },
    },
    async (request, reply) => {
      const { repository, q, sort, page, perPage } = request.query;
      const { tags, ...detail } = await insights.repository(repository, { query: q ?? '', ...(sort ? { sort } : {}), page, perPage });
      const { items, ...pagination } = tags;
      return reply.send({ ...detail, canDelete: request.access.can('delete', repository), host: pullTarget(app, request).host, tags: items, ...pagination });
    },
  );

  typed.get(
    '/api/ui/image',
    {
      schema: { querystring: { type: 'object', required: ['repository', 'reference'], properties: { repository: text(256), reference: text(200) } } },
      config: { action: 'read', repositoryQuery: 'repository' },
    },
    async (request, reply) => {
      const { repository, reference } = request.query;
      const parsed = parseReference(reference, 'lookup');
      const detail = await insights.image(repository, parsed.tag !== undefined ? { tag: parsed.tag } : { digest: parsed.digest.value });
      return reply.send({ ...detail, host: pullTarget(app, request).host });
    },
  );
}
