/** Makes the registry services available to routes as `app.registry`, and maintenance as `app.maintenance`. */
import fp from 'fastify-plugin';
import type { Maintenance } from '../maintenance/maintenance.js';
import type { Registry } from '../registry/registry.js';

declare module 'fastify' {
  interface FastifyInstance {
    registry: Registry;
    maintenance: Maintenance;
  }
}

export const registryPlugin = fp<{ registry: Registry; maintenance: Maintenance }>(
  async (app, { registry, maintenance }) => {
    app.decorate('registry', registry);
    app.decorate('maintenance', maintenance);
  },
  { name: 'berth-registry' },
);
