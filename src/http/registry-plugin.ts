/** Makes the registry services available to routes as `app.registry`. */
import fp from 'fastify-plugin';
import type { Registry } from '../registry/registry.js';

declare module 'fastify' {
  interface FastifyInstance {
    registry: Registry;
  }
}

export const registryPlugin = fp<{ registry: Registry }>(
  async (app, { registry }) => {
    app.decorate('registry', registry);
  },
  { name: 'berth-registry' },
);
