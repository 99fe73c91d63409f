/**
 * zot's `http.ratelimit` (a rate for all clients together, and per method) as token buckets. Limits
 * on failed sign-ins are another matter, per account and address: src/auth/sign-in-limits.ts.
 */
import type { FastifyInstance } from 'fastify';
import { RegistryError } from '../oci/errors.js';

class TokenBucket {
  private tokens: number;
  private last = Date.now();

  constructor(private readonly perSecond: number) {
    this.tokens = perSecond;
  }

  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export function limitRate(app: FastifyInstance, limits: { rate?: number; methods: Record<string, number> }): void {
  const overall = limits.rate ? new TokenBucket(limits.rate) : undefined;
  const byMethod = new Map(Object.entries(limits.methods).map(([method, rate]) => [method, new TokenBucket(rate)]));
  app.addHook('onRequest', async (_request, reply) => {
    const method = _request.method;
    if ((byMethod.get(method) && !byMethod.get(method)!.take()) || (overall && !overall.take())) {
      reply.header('retry-after', '1');
      throw new RegistryError('TOOMANYREQUESTS');
    }
  });
}
