/**
 * For tests of RedisCoordination on the run's Redis: the coordinations a test opens (closed after
 * each test), a raw client to look at the keys they write, and a fresh key prefix per test.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach } from 'vitest';
import type { RedisCoordination } from '../../src/coordination/redis-coordination.js';
import { redisUrl } from './services.js';

export function redisCoordinations() {
  const opened: RedisCoordination[] = [];
  const raw = new Redis(redisUrl(), { lazyConnect: true });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((coordination) => coordination.close()));
  });
  afterAll(() => raw.disconnect());
  return { opened, raw, newPrefix: () => `test-${randomBytes(6).toString('hex')}` };
}
