/**
 * A map of JSON records in Redis. Records without expiry live in one hash (`<prefix>:<map>`), so the
 * common get and set are one HGET or HSET; a record with an expiry is its own key
 * (`<prefix>:<map>:<key>`, with PX) so Redis forgets it on time, and its key is listed in a sorted
 * set (`<prefix>:<map>#expiring`) so `entries()` never scans the keyspace. A record is in exactly
 * one of the two places: each write clears the other, in the same script.
 */
import type { SharedRecords } from './coordination.js';
import { luaScript, type RedisConnection } from './redis-connection.js';

/** KEYS: record key, hash, expiring set. ARGV: field. */
const GET = luaScript(`
local value = redis.call('GET', KEYS[1])
if value then return value end
return redis.call('HGET', KEYS[2], ARGV[1])
`);

/** KEYS: record key, hash, expiring set. ARGV: field, JSON. */
const SET = luaScript(`
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if redis.call('DEL', KEYS[1]) == 1 then redis.call('ZREM', KEYS[3], ARGV[1]) end
return 1
`);

/** KEYS: record key, hash, expiring set. ARGV: field, JSON, ttl ms. Expiries in Redis's clock. */
const SET_EXPIRING = luaScript(`
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
return 1
`);

/** KEYS: record key, hash, expiring set. ARGV: field. */
const TAKE = luaScript(`
local value = redis.call('GET', KEYS[1])
if value then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return value
end
value = redis.call('HGET', KEYS[2], ARGV[1])
if value then redis.call('HDEL', KEYS[2], ARGV[1]) end
return value
`);

export class RedisRecords<T> implements SharedRecords<T> {
  private readonly hash: string;
  private readonly expiring: string;

  constructor(
    private readonly redis: RedisConnection,
    private readonly map: string,
  ) {
    this.hash = redis.key(map);
    this.expiring = `${this.hash}#expiring`;
  }

  private keys(key: string): string[] {
    return [this.redis.key(this.map, key), this.hash, this.expiring];
  }

  async get(key: string): Promise<T | undefined> {
    return parse<T>(await this.redis.script(GET, this.keys(key), [key]));
  }

  async set(key: string, value: T, options: { ttlMs?: number } = {}): Promise<void> {
    const json = JSON.stringify(value);
    if (options.ttlMs === undefined) await this.redis.script(SET, this.keys(key), [key, json]);
    else await this.redis.script(SET_EXPIRING, this.keys(key), [key, json, Math.max(1, Math.ceil(options.ttlMs))]);
  }

  async take(key: string): Promise<T | undefined> {
    return parse<T>(await this.redis.script(TAKE, this.keys(key), [key]));
  }

  async entries(): Promise<Array<[string, T]>> {
    const [permanent, expiringKeys] = await this.redis.call((client) => Promise.all([client.hgetall(this.hash), client.zrange(this.expiring, 0, -1)]));
    const live: Array<[string, T]> = Object.entries(permanent).map(([key, json]) => [key, JSON.parse(json) as T]);
    if (expiringKeys.length > 0) {
      const values = await this.redis.call((client) => client.mget(expiringKeys.map((key) => this.redis.key(this.map, key))));
      values.forEach((json, index) => {
        // An expired record's key is gone before its entry in the set is pruned.
        if (json !== null) live.push([expiringKeys[index]!, JSON.parse(json) as T]);
      });
    }
    return live;
  }
}

function parse<T>(reply: unknown): T | undefined {
  return typeof reply === 'string' ? (JSON.parse(reply) as T) : undefined;
}
