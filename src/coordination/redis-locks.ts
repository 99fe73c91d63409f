/**
 * Locks shared by replicas through Redis (the single-instance pattern of
 * https://redis.io/docs/latest/develop/use/patterns/distributed-locks/): `SET key token NX PX ttl`,
 * renewed every ttl/3 by a compare-and-PEXPIRE while the work runs, released by a compare-and-DEL
 * so a holder never deletes a lock that has passed to someone else.
 *
 * Inside one process, waiters queue on a KeyedMutex first: only one of them polls Redis per key.
 * Between processes, a waiter that keeps failing claims the next turn (`lock-turn:<key>`, expiring
 * within a second if it goes away), so a replica whose own requests follow each other cannot keep
 * the lock from another replica forever.
 *
 * A lost lock (Redis restarted, or unreachable for longer than the ttl while the work ran) cannot
 * stop work already under way. The work finishes, the loss is logged, and `run` throws UNAVAILABLE
 * instead of returning: the client is never told of a success that the lock may not have serialized.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryError } from '../oci/errors.js';
import type { Locks } from './coordination.js';
import { KeyedMutex } from './keyed-mutex.js';
import { luaScript, type CoordinationLog, type RedisConnection } from './redis-connection.js';

/**
 * How long a lock outlives a holder that stops renewing it (renewals come every third of it): a
 * replica killed mid-push blocks that repository or upload for at most this long. Short, because
 * renewal (not the ttl) is what covers long work.
 */
export const DEFAULT_LOCK_TTL_MS = 10_000;
const POLL_MIN_MS = 5;
const POLL_MAX_MS = 100;
/** How long a waiter's claim on the next turn lasts without being refreshed (it refreshes every poll). */
const TURN_TTL_MS = 1_000;

const ACQUIRE = luaScript(`
local turn = redis.call('GET', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 0 and (not turn or turn == ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  if turn then redis.call('DEL', KEYS[2]) end
  return 1
end
if ARGV[3] == '1' then
  if not turn then
    redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4])
  elseif turn == ARGV[1] then
    redis.call('PEXPIRE', KEYS[2], ARGV[4])
  end
end
return 0
`);

const RENEW = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`);

const RELEASE = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`);

interface Lease {
  key: string;
  token: string;
  /** When the last command that (re)set the expiry was sent: the lock is ours until this + ttl. */
  confirmedAt: number;
  lost: boolean;
  /** A failed renewal is logged once per lease, not at every retry of an outage. */
  renewalFailed: boolean;
  done: boolean;
  timer?: NodeJS.Timeout;
}

export class RedisLocks implements Locks {
  private readonly mutex = new KeyedMutex();
  /** Local runs per key, queued or running: `tryRun` gives way to them without asking Redis. */
  private readonly local = new Map<string, number>();
  private readonly leases = new Set<Lease>();

  constructor(
    private readonly redis: RedisConnection,
    private readonly log: CoordinationLog,
    private readonly ttlMs: number = DEFAULT_LOCK_TTL_MS,
  ) {}

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.queue(key, async () => this.hold(await this.acquire(key, true), work));
  }

  async tryRun<T>(key: string, work: (held: () => boolean) => Promise<T>): Promise<T | undefined> {
    if (this.local.has(key)) return undefined;
    return this.queue(key, async () => {
      const lease = await this.acquire(key, false);
      return lease ? this.hold(lease, () => work(() => this.stillHeld(lease))) : undefined;
    });
  }

  /** Whether the lock is surely still the lease's: not found taken, and renewed within its expiry. */
  private stillHeld(lease: Lease): boolean {
    return !lease.lost && performance.now() < lease.confirmedAt + this.ttlMs;
  }

  /** Stops renewing (at close); leases still held then expire in Redis by themselves. */
  stop(): void {
    for (const lease of this.leases) this.finish(lease);
  }

  private async queue<T>(key: string, work: () => Promise<T>): Promise<T> {
    this.local.set(key, (this.local.get(key) ?? 0) + 1);
    try {
      return await this.mutex.run(key, work);
    } finally {
      const left = (this.local.get(key) ?? 1) - 1;
      if (left === 0) this.local.delete(key);
      else this.local.set(key, left);
    }
  }

  /** Waits for the lock (`wait`), or makes one attempt; throws UNAVAILABLE when Redis does not answer. */
  private async acquire(key: string, wait: true): Promise<Lease>;
  private async acquire(key: string, wait: false): Promise<Lease | undefined>;
  private async acquire(key: string, wait: boolean): Promise<Lease | undefined> {
    const token = randomBytes(16).toString('hex');
    const keys = [this.redis.key('lock', key), this.redis.key('lock-turn', key)];
    let delay = POLL_MIN_MS;
    for (;;) {
      const sent = performance.now();
      const acquired = await this.redis.script(ACQUIRE, keys, [token, this.ttlMs, wait ? '1' : '0', TURN_TTL_MS]);
      if (acquired === 1) {
        const lease: Lease = { key, token, confirmedAt: sent, lost: false, renewalFailed: false, done: false };
        this.leases.add(lease);
        this.scheduleRenewal(lease, this.ttlMs / 3);
        return lease;
      }
      if (!wait) return undefined;
      await sleep(delay * (0.5 + Math.random() / 2));
      delay = Math.min(delay * 2, POLL_MAX_MS);
    }
  }

  private async hold<T>(lease: Lease, work: () => Promise<T>): Promise<T> {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: await work() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    const held = await this.release(lease);
    if (!outcome.ok) throw outcome.error;
    if (!held) {
      throw new RegistryError('UNAVAILABLE', 'Redis is unreachable: a lock expired before the operation finished; its outcome is uncertain, retry it');
    }
    return outcome.value;
  }

  private scheduleRenewal(lease: Lease, delayMs: number): void {
    lease.timer = setTimeout(() => void this.renew(lease), delayMs);
    lease.timer.unref();
  }

  private async renew(lease: Lease): Promise<void> {
    if (lease.done) return;
    const sent = performance.now();
    let next = this.ttlMs / 3;
    try {
      const renewed = await this.redis.script(RENEW, [this.redis.key('lock', lease.key)], [lease.token, this.ttlMs]);
      if (renewed !== 1) {
        lease.lost = true;
        this.log.error(`lock "${lease.key}" was lost while its work ran (Redis restarted, or was unreachable for longer than ${this.ttlMs} ms); the operation will fail`);
        return;
      }
      lease.confirmedAt = sent;
    } catch (error) {
      if (!lease.renewalFailed) this.log.error(`lock "${lease.key}" could not be renewed: ${(error as Error).message}; retrying`);
      lease.renewalFailed = true;
      next = Math.min(next, 1_000);
    }
    if (!lease.done) this.scheduleRenewal(lease, next);
  }

  /** True when the lock was ours from acquisition until now. */
  private async release(lease: Lease): Promise<boolean> {
    this.finish(lease);
    if (lease.lost) return false;
    try {
      const released = await this.redis.script(RELEASE, [this.redis.key('lock', lease.key)], [lease.token]);
      if (released === 1) return true;
      this.log.error(`lock "${lease.key}" had expired when its work finished (Redis restarted, or was unreachable for longer than ${this.ttlMs} ms); the operation fails`);
      return false;
    } catch (error) {
      // Redis is gone; the lock was still ours if its expiry had not passed, and it will expire by itself.
      if (performance.now() < lease.confirmedAt + this.ttlMs) {
        this.log.info(`lock "${lease.key}" could not be released (${(error as Error).message}); it expires within ${this.ttlMs} ms`);
        return true;
      }
      this.log.error(`lock "${lease.key}" could not be confirmed when its work finished (${(error as Error).message}); the operation fails`);
      return false;
    }
  }

  private finish(lease: Lease): void {
    lease.done = true;
    clearTimeout(lease.timer);
    this.leases.delete(lease);
  }
}
