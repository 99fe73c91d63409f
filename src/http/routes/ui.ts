/**
 * The web UI (extensions.ui): server-rendered pages, their static assets, and the JSON API under
 * /api/ui. Each part is its own encapsulated plugin; all of them send the UI's security headers
 * and go through the one access hook like every other route.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { readWithin } from '../request-body.js';
import { RepositoryInsights } from '../../browse/repository-insights.js';
import { loadAssets } from '../../ui/assets.js';
import { addSecurityHeaders, type UiContext } from '../ui-context.js';
import type { NotFoundPage } from '../errors.js';
import { installPageErrors, notFoundPage } from '../ui-errors.js';
import { uiAccountRoutes } from './ui-account.js';
import { uiApiRoutes } from './ui-api.js';
import { uiAssetRoutes } from './ui-assets.js';
import { uiPageRoutes } from './ui-pages.js';

/** Form posts of the UI: small url-encoded bodies (the rest of Berth parses no bodies at all). */
const FORM_BODY_LIMIT = 16 * 1024;

/** Registers the UI on `app`; returns its page for unknown addresses (the root's not-found handler asks it). */
export async function registerUi(app: FastifyInstance): Promise<NotFoundPage> {
  const insights = new RepositoryInsights(app.registry.store, app.registry.catalog);
  // The read models follow this process's writes, and read ahead what the first page needs.
  app.registry.manifests.afterWrite(async (writes) => insights.noteWrites(writes));
  app.addHook('onReady', async () => insights.warm());
  // The views computed in the last second are saved, so the next start finds them: after the
  // journals are folded (the store's close would fold them after this hook, and a fold gives
  // index.json a new version, under which a view saved before it is not used).
  app.addHook('onClose', async () => {
    await app.registry.store.flush();
    await insights.close();
  });
  const context: UiContext = { assets: await loadAssets(), insights };
  await app.register(uiRoutes, context);
  return notFoundPage(context);
}

async function uiRoutes(app: FastifyInstance, context: UiContext): Promise<void> {
  addSecurityHeaders(app);
  await app.register(uiAssetRoutes, context);
  await app.register(uiApiRoutes, context);
  await app.register(async (pages) => {
    pages.addContentTypeParser('application/x-www-form-urlencoded', async (request: FastifyRequest, body: Readable) => {
      const bytes = await readWithin(body, FORM_BODY_LIMIT, request.server.bodyTime.deadlineMs, 'BODY_TOO_LARGE');
      return Object.fromEntries(new URLSearchParams(bytes.toString('utf8')));
    });
    installPageErrors(pages, context);
    await pages.register(uiPageRoutes, context);
    await pages.register(uiAccountRoutes, context);
  });
}
