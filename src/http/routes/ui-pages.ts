/**
 * The browsing pages: `/` (to the list), `/repositories`, `/repository?name=`, `/image?name=&ref=`,
 * and the delete-tag form. Repository names hold slashes, so they travel in the query, and each
 * route names that parameter (`repositoryQuery`) for the access hook: a page is refused before any
 * storage is touched when the viewer may not read the repository.
 */
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyInstance } from 'fastify';
import { RegistryError } from '../../oci/errors.js';
import { isValidTag } from '../../oci/names.js';
import { parseReference } from '../../registry/manifests.js';
import { REPOSITORY_SORTS, TAG_SORTS } from '../../browse/repository-insights.js';
import { url } from '../../ui/html.js';
import { renderImage } from '../../ui/pages/image.js';
import type { MirrorNote } from '../../ui/pages/mirror.js';
import { renderRepositories } from '../../ui/pages/repositories.js';
import { renderRepository } from '../../ui/pages/repository.js';
import { auditFacts } from '../audit.js';
import { pullTarget, viewerOf, type UiContext } from '../ui-context.js';

const HTML = 'text/html; charset=utf-8';
export const REPOSITORIES_PER_PAGE = 50;
export const TAGS_PER_PAGE = 50;

// Literal schemas (const), so the type provider reads each handler's query type from them; `page`
// has a default, so it is always there.
const text = <const N extends number>(maxLength: N) => ({ type: 'string', maxLength }) as const;
const pageNumber = { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1 } as const;
const querystring = <const P, const R extends readonly (keyof P & string)[]>(properties: P, required: R) => ({ type: 'object', properties, required }) as const;

/** A mirrored repository's origin for its pages (nothing when it is not mirrored). */
function mirrorOf(app: FastifyInstance, name: string, tag?: string): { mirror?: MirrorNote } {
  const mirror = app.pullThrough?.mirrorOf(name, tag);
  return mirror ? { mirror } : {};
}

export async function uiPageRoutes(app: FastifyInstance, context: UiContext): Promise<void> {
  const { insights } = context;
  const assets = context.assets.urls;

  const typed = app.withTypeProvider<JsonSchemaToTsProvider>();

  app.get('/', { config: { action: 'public', page: true } }, async (_request, reply) => reply.redirect('/repositories'));

  // zot's UI (zui) addresses that people bookmarked lead to the matching page here (which checks access).
  typed.get('/home', { config: { action: 'public', page: true } }, async (_request, reply) => reply.redirect('/repositories'));
  typed.get('/explore', { schema: { querystring: { type: 'object', properties: { search: { type: 'string', maxLength: 256 } } } }, config: { action: 'public', page: true } }, async (request, reply) =>
    reply.redirect(url('/repositories', { q: request.query.search || undefined })),
  );
  typed.get('/image/*', { config: { action: 'public', page: true } }, async (request, reply) => reply.redirect(zuiImageTarget((request.params as { '*': string })['*'])));

  typed.get(
    '/repositories',
    { schema: { querystring: querystring({ q: text(256), sort: { type: 'string', enum: REPOSITORY_SORTS }, page: pageNumber, deleted: text(256) }, []) }, config: { action: 'catalog', page: true } },
    async (request, reply) => {
      const { q = '', sort = 'name', page, deleted } = request.query;
      const { access } = request;
      const visible = access.readsEverything ? undefined : (name: string) => access.can('read', name);
      const result = await insights.repositories({ visible, query: q, sort, page, perPage: REPOSITORIES_PER_PAGE });
      return reply.type(HTML).send(renderRepositories({ viewer: viewerOf(request, reply), assets, page: result, query: q, sort, pull: pullTarget(app, request), ...(deleted ? { deleted } : {}) }));
    },
  );

  typed.get(
    '/repository',
    {
      schema: {
        querystring: querystring({ name: text(256), q: text(128), sort: { type: 'string', enum: TAG_SORTS }, page: pageNumber, deleted: text(128), removed: { type: 'integer', minimum: 0 } }, [
          'name',
        ]),
      },
      config: { action: 'read', repositoryQuery: 'name', page: true },
    },
    async (request, reply) => {
      const { name, q = '', sort = 'pushed', page, deleted, removed } = request.query;
      const detail = await insights.repository(name, { query: q, sort, page, perPage: TAGS_PER_PAGE });
      const view = {
        viewer: viewerOf(request, reply),
        assets,
        detail,
        pull: pullTarget(app, request),
        canDelete: request.access.can('delete', name),
        query: q,
        sort,
        ...(deleted !== undefined && isValidTag(deleted) ? { deleted } : {}),
        ...(removed !== undefined ? { removed } : {}),
        ...mirrorOf(app, name),
      };
      return reply.type(HTML).send(renderRepository(view));
    },
  );

  typed.get(
    '/image',
    { schema: { querystring: querystring({ name: text(256), ref: text(200) }, ['name', 'ref']) }, config: { action: 'read', repositoryQuery: 'name', page: true } },
    async (request, reply) => {
      const { name, ref } = request.query;
      const reference = parseReference(ref, 'lookup');
      const detail = await insights.image(name, reference.tag !== undefined ? { tag: reference.tag } : { digest: reference.digest.value });
      return reply.type(HTML).send(renderImage({ viewer: viewerOf(request, reply), assets, detail, reference: ref, pull: pullTarget(app, request), ...mirrorOf(app, name, reference.tag) }));
    },
  );

  // A form post (CSRF token checked first): deletes the tag only, as DELETE /v2/<name>/manifests/<tag> does.
  typed.post(
    '/repository/delete-tag',
    { schema: { querystring: querystring({ name: text(256), tag: text(128) }, ['name', 'tag']) }, config: { action: 'delete', repositoryQuery: 'name', page: true, audit: 'tag-delete' } },
    async (request, reply) => {
      const { name, tag } = request.query;
      auditFacts(request, { repository: name, tag });
      // A tag only: deleting by digest (and detectManifestCollision) stays with the /v2 API.
      if (!isValidTag(tag)) throw new RegistryError('TAG_INVALID', { tag });
      await app.registry.manifests.delete(name, { tag }, { detectCollision: false, actor: request.access.identity });
      auditFacts(request, { outcome: 'ok' });
      request.log.info({ name, tag, by: request.access.identity.username }, 'tag deleted from the web UI');
      return reply.code(303).redirect(url('/repository', { name, deleted: tag }));
    },
  );

  // A form post (CSRF token checked first) that removes the manifests no tag reaches (untagged.ts).
  // Their blobs are left to garbage collection.
  typed.post(
    '/repository/delete-untagged',
    { schema: { querystring: querystring({ name: text(256) }, ['name']) }, config: { action: 'delete', repositoryQuery: 'name', page: true, audit: 'untagged-delete' } },
    async (request, reply) => {
      const { name } = request.query;
      auditFacts(request, { repository: name });
      const removed = await app.registry.manifests.deleteUntagged(name, { actor: request.access.identity });
      auditFacts(request, { outcome: 'ok', reason: `${removed.length} manifests removed` });
      request.log.info({ name, removed: removed.length, by: request.access.identity.username }, 'untagged manifests deleted from the web UI');
      return reply.code(303).redirect(url('/repository', { name, removed: removed.length }));
    },
  );

  // A form post (CSRF token checked first) that deletes a repository with no tag left: its manifests,
  // blobs and the repository itself, which is then no longer listed.
  typed.post(
    '/repository/delete',
    { schema: { querystring: querystring({ name: text(256) }, ['name']) }, config: { action: 'delete', repositoryQuery: 'name', page: true, audit: 'repository-delete' } },
    async (request, reply) => {
      const { name } = request.query;
      auditFacts(request, { repository: name });
      const { removed, gone } = await app.registry.manifests.deleteRepository(name, { actor: request.access.identity });
      if (gone) insights.forget(name);
      auditFacts(request, { outcome: 'ok', reason: gone ? `repository removed with ${removed.length} manifests` : `${removed.length} manifests removed; a push came first, so the repository stays` });
      request.log.info(
        { name, removed: removed.length, gone, by: request.access.identity.username },
        gone ? 'repository deleted from the web UI' : 'repository emptied from the web UI, but a push came first',
      );
      return reply.code(303).redirect(gone ? url('/repositories', { deleted: name }) : url('/repository', { name, removed: removed.length }));
    },
  );
}

/** Where zui's `/image/<name>[/tag/<tag>]` (the name URL-encoded or not) is here. */
export function zuiImageTarget(rest: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rest);
  } catch {
    return '/repositories';
  }
  const at = decoded.lastIndexOf('/tag/');
  const name = at === -1 ? decoded : decoded.slice(0, at);
  const tag = at === -1 ? '' : decoded.slice(at + '/tag/'.length);
  if (name === '') return '/repositories';
  return tag === '' ? url('/repository', { name }) : url('/image', { name, ref: tag });
}
