/**
 * Every /v2 route declares the access it needs in its route config; nothing is left to a handler.
 * `read`, `create`, `update` and `delete` are zot's accessControl actions; `none` marks the
 * endpoints every caller may reach (`GET /v2/`), `catalog` the listing filtered per repository.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';

export type Action = 'none' | 'catalog' | 'read' | 'create' | 'delete';

declare module 'fastify' {
  interface FastifyContextConfig {
    action?: Action;
  }
}

/** Fails at start-up, not at request time, when a /v2 route forgets to declare its action. */
export function requireDeclaredAccess(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    if (!route.url.startsWith('/v2')) return;
    const action = (route.config as { action?: Action } | undefined)?.action;
    if (action === undefined) throw new Error(`route ${String(route.method)} ${route.url} declares no action`);
  });
}
