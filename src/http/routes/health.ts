/**
 * zot's health endpoints, for Kubernetes probes: `/livez` (the process answers), `/readyz` (the
 * config is loaded and every backend answers: storage is writable — a probe file or object is
 * written and removed — and Redis, when replicas share one, replies) and `/startupz` (start-up
 * finished; Fastify answers only once every plugin is ready).
 */
import type { FastifyInstance } from 'fastify';
import { RegistryError } from '../../oci/errors.js';

export interface ReadinessCheck {
  /** What the check is about, as the operator knows it: `storage`, `s3 bucket registry`, `redis`. */
  name: string;
  check(): Promise<void>;
}

export async function healthRoutes(app: FastifyInstance, { checks }: { checks: ReadinessCheck[] }): Promise<void> {
  app.get('/livez', async (_request, reply) => reply.header('cache-control', 'no-store').type('text/plain').send('ok\n'));
  app.get('/startupz', async (_request, reply) => reply.header('cache-control', 'no-store').type('text/plain').send('ok\n'));
  app.get('/readyz', async (request, reply) => {
    const outcomes = await Promise.all(
      checks.map(async ({ name, check }) => {
        try {
          await check();
          return { name, ok: true, text: 'ok' };
        } catch (error) {
          request.log.error({ err: error }, `readiness: ${name} failed`);
          const text = error instanceof RegistryError && typeof error.detail === 'string' ? error.detail : (error as Error).message;
          return { name, ok: false, text: text || 'failed' };
        }
      }),
    );
    const report = outcomes.map(({ name, text }) => `${name}: ${text}`).join('; ');
    if (outcomes.some((outcome) => !outcome.ok)) throw new RegistryError('UNAVAILABLE', `not ready: ${report}`);
    return reply
      .header('cache-control', 'no-store')
      .type('text/plain')
      .send(`ok\n${outcomes.map(({ name }) => `${name}: ok\n`).join('')}`);
  });
}
