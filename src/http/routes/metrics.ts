/** The Prometheus scrape endpoint (`extensions.metrics.prometheus.path`, default `/metrics`). */
import type { FastifyInstance } from 'fastify';
import type { BerthMetrics } from '../metrics.js';

export async function metricsRoutes(app: FastifyInstance, { metrics, path }: { metrics: BerthMetrics; path: string }): Promise<void> {
  app.get(path, { config: { action: 'metrics' } }, async (_request, reply) =>
    reply
      .header('cache-control', 'no-store')
      .type(metrics.registry.contentType)
      .send(await metrics.exposition()),
  );
}
