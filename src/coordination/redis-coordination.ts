/**
 * Coordination through Redis, for several Berth replicas: locks (redis-locks.ts), records
 * (redis-records.ts) and counters (redis-counters.ts) under one key prefix, over one ioredis
 * connection.
 *
 * Redis down is an outage of writes, not of Berth: startup does not wait for Redis (it logs and keeps
 * reconnecting), commands are never queued while disconnected (`enableOfflineQueue: false`), and a
 * command in flight when the connection drops fails at once (`maxRetriesPerRequest: 0`, no resend:
 * a resent `SET NX` could leave a lock to ourselves). Every failure reaches the caller as
 * `RegistryError('UNAVAILABLE', 'Redis is unreachable: <reason>')`, a 503 whose detail is in Berth's
 * words (`no connection`, `a command timed out`, …); the log has the driver's reason. Messages and
 * logs show the URL with its password masked, and never the password.
 *
 * Keys, for prefix `berth`:
 *   berth:lock:<key>           a held lock: the holder's random token, with a PX expiry
 *   berth:lock-turn:<key>      the replica whose turn the lock is next (against starvation)
 *   berth:<map>                records without expiry: a hash, field = record key, value = JSON
 *   berth:<map>:<key>          a record with an expiry: a string with PX
 *   berth:<map>#expiring       the keys of a map's expiring records (a sorted set by expiry)
 *   berth:counter:<name>:<key> a counter: an integer string, with a PX expiry ending its window
 *   berth:log:<name>[:…]       a shared log: a stream, its last number, its consumers' positions (redis-log.ts)
 */
import { Redis } from 'ioredis';
import type { Coordination, Locks, SharedCounters, SharedLog, SharedRecords } from './coordination.js';
import { RedisCounters } from './redis-counters.js';
import { RedisLocks, DEFAULT_LOCK_TTL_MS } from './redis-locks.js';
import { RedisLog } from './redis-log.js';
import { RedisRecords } from './redis-records.js';
import { displayUrl, RedisConnection, type CoordinationLog } from './redis-connection.js';

export type { CoordinationLog } from './redis-connection.js';

export interface RedisCoordinationOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`. */
  url: string;
  /** Prefix of every key, so several registries can share one Redis. Default `berth`. */
  keyPrefix?: string;
  log?: CoordinationLog;
  /** How long a lock outlives a holder that stopped renewing it (a dead replica). Default 10 s. */
  lockTtlMs?: number;
  /** A command unanswered this long fails (a hung or unreachable Redis). Default 5 s. */
  commandTimeoutMs?: number;
}

const SILENT: CoordinationLog = { info() {}, error() {} };
const MAP_NAME = /^[a-z0-9][a-z0-9-]*$/;
/** Names whose keys the locks and the counters use. */
const RESERVED_MAPS = new Set(['lock', 'lock-turn', 'counter', 'log']);

export class RedisCoordination implements Coordination {
  readonly shared = true;
  readonly kind = 'redis';
  readonly locks: Locks;
  private readonly redisLocks: RedisLocks;
  private readonly connection: RedisConnection;
  private readonly maps = new Map<string, RedisRecords<unknown>>();
  private readonly counterSets = new Map<string, RedisCounters>();
  private readonly log: CoordinationLog;
  private readonly where: string;
  /** Logs an outage once, and its end once. */
  private state: 'new' | 'up' | 'down' = 'new';
  private closing = false;
  private readonly firstAttempt: Promise<void>;

  constructor(options: RedisCoordinationOptions) {
    const prefix = options.keyPrefix ?? 'berth';
    if (prefix === '' || /[\s*?[\]\\]/.test(prefix)) throw new Error(`invalid Redis key prefix ${JSON.stringify(prefix)}`);
    this.log = options.log ?? SILENT;
    this.where = displayUrl(options.url);
    const client = new Redis(options.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectTimeout: 3_000,
      commandTimeout: options.commandTimeoutMs ?? 5_000,
      // Reconnect forever, at most a second apart: Redis coming back is noticed quickly.
      retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    });
    this.connection = new RedisConnection(client, prefix, options.url);
    client.on('error', (error: Error) => {
      if (this.state !== 'down' && !this.closing) {
        this.state = 'down';
        this.log.error(`Redis at ${this.where} is unreachable: ${this.connection.clean(error.message)}; retrying (writes fail with 503 meanwhile)`);
      }
    });
    client.on('ready', () => {
      this.log.info(this.state === 'down' ? `Redis at ${this.where} is reachable again` : `Redis at ${this.where} connected`);
      this.state = 'up';
    });
    client.on('close', () => {
      if (this.state === 'up' && !this.closing) {
        this.state = 'down';
        this.log.error(`Redis at ${this.where}: connection lost; reconnecting`);
      }
    });
    this.redisLocks = new RedisLocks(this.connection, this.log, options.lockTtlMs ?? DEFAULT_LOCK_TTL_MS);
    this.locks = this.redisLocks;
    // Connecting starts at once; a failure is logged by the 'error' listener and ioredis keeps
    // reconnecting, so Berth starts (and serves what needs no Redis) while Redis is down.
    this.firstAttempt = client.connect().catch(() => undefined);
  }

  /** A coordination whose first connection attempt has finished; never throws (see `connected`). */
  static async start(options: RedisCoordinationOptions): Promise<RedisCoordination> {
    const coordination = new RedisCoordination(options);
    await coordination.connect();
    return coordination;
  }

  /** Resolves once the first connection attempt has succeeded or failed. */
  connect(): Promise<void> {
    return this.firstAttempt;
  }

  /** Whether Redis answers now (as far as the connection knows). */
  get connected(): boolean {
    return this.connection.client.status === 'ready';
  }

  records<T>(map: string): SharedRecords<T> {
    if (!MAP_NAME.test(map) || RESERVED_MAPS.has(map)) throw new Error(`invalid records map name ${JSON.stringify(map)}`);
    let records = this.maps.get(map);
    if (!records) {
      records = new RedisRecords(this.connection, map);
      this.maps.set(map, records);
    }
    return records as SharedRecords<T>;
  }

  counters(name: string): SharedCounters {
    if (!MAP_NAME.test(name)) throw new Error(`invalid counters name ${JSON.stringify(name)}`);
    let counters = this.counterSets.get(name);
    if (!counters) {
      counters = new RedisCounters(this.connection, name);
      this.counterSets.set(name, counters);
    }
    return counters;
  }

  sharedLog(name: string): SharedLog {
    if (!MAP_NAME.test(name)) throw new Error(`invalid log name ${JSON.stringify(name)}`);
    return new RedisLog(this.connection, name);
  }

  async check(): Promise<void> {
    if (this.connection.client.status !== 'ready') throw this.connection.unavailable(new Error('not connected'));
    await this.connection.call((client) => client.ping());
  }

  async close(): Promise<void> {
    this.closing = true;
    this.redisLocks.stop();
    const { client } = this.connection;
    if (client.status === 'end') return;
    try {
      if (client.status !== 'ready') throw new Error('not connected');
      await client.quit();
    } catch {
      client.disconnect();
    }
  }
}
