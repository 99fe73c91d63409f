/**
 * zot's `http.ratelimit` (a rate for all clients together, and per method) as token buckets, plus a
 * per-client limit on failed sign-ins that `failDelay` alone does not give: after too many failures
 * from one address, its credentials are not even checked until the window ends.
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

declare module 'fastify' {
  interface FastifyInstance {
    /** Shared by every place that checks a password, so no form escapes the limit. */
    failedLogins: FailedLoginLimiter;
  }
}

/** Failed sign-ins per client address in a sliding window. */
export class FailedLoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures = 20,
    private readonly windowMs = 5 * 60_000,
  ) {}

  private recent(address: string, now: number): number[] {
    const times = (this.failures.get(address) ?? []).filter((time) => now - time < this.windowMs);
    if (times.length === 0) this.failures.delete(address);
    else this.failures.set(address, times);
    return times;
  }

  /** Throws TOOMANYREQUESTS while `address` is over the limit. */
  check(address: string, now = Date.now()): void {
    const times = this.recent(address, now);
    if (times.length >= this.maxFailures) {
      throw new RegistryError('TOOMANYREQUESTS', { reason: 'too many failed sign-ins from this address', retryAfterSeconds: Math.ceil((times[0]! + this.windowMs - now) / 1000) });
    }
  }

  fail(address: string, now = Date.now()): void {
    if (this.failures.size > 100_000) this.failures.clear();
    this.failures.set(address, [...this.recent(address, now), now]);
  }
}
