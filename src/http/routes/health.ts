/**
 * zot's health endpoints, for Kubernetes probes: `/livez` (the process answers), `/readyz` (the
 * config is loaded and storage is writable: a probe file is written, synced and removed) and
 * `/startupz` (start-up finished; Fastify answers only once every plugin is ready).
 */
import type { FastifyInstance } from 'fastify';
import { RegistryError } from '../../oci/errors.js';

export async function healthRoutes(app: FastifyInstance, { storageWritable }: { storageWritable: () => Promise<void> }): Promise<void> {
  app.get('/livez', async (_request, reply) => reply.header('cache-control', 'no-store').type('text/plain').send('ok\n'));
  app.get('/startupz', async (_request, reply) => reply.header('cache-control', 'no-store').type('text/plain').send('ok\n'));
  app.get('/readyz', async (request, reply) => {
    try {
      await storageWritable();
    } catch (error) {
      request.log.error({ err: error }, 'readiness: storage is not writable');
      throw new RegistryError('UNAVAILABLE', 'storage is not writable', { cause: error });
    }
    return reply.header('cache-control', 'no-store').type('text/plain').send('ok\n');
  });
}
