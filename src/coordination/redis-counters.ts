/**
 * Counters in Redis: one string key per counter, `<prefix>:counter:<name>:<key>`, holding the count,
 * with a PX expiry that ends its window. INCR and PEXPIRE run in one Lua script, so concurrent
 * increments from any replica are each counted once and a counter is never left without an expiry
 * (a key that somehow lost it gets one back at the next increment: no lockout lasts for good).
 * Reads of several counters are one script too: one round trip per sign-in check.
 */
import type { CounterValue, SharedCounters } from './coordination.js';
import { luaScript, type RedisConnection } from './redis-connection.js';

/** KEYS: counter. ARGV: window ms, renew (1 or 0). Returns { count, ms left }. */
const INCREMENT = luaScript(`
local count = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if count == 1 or left < 0 or ARGV[2] == '1' then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return { count, left }
`);

/** KEYS: counters. Returns count and ms left for each, flat; 0 and 0 for an absent one. */
const READ = luaScript(`
local values = {}
for _, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0') or 0
  local left = redis.call('PTTL', key)
  values[#values + 1] = count
  values[#values + 1] = left > 0 and left or 0
end
return values
`);

export class RedisCounters implements SharedCounters {
  constructor(
    private readonly redis: RedisConnection,
    private readonly name: string,
  ) {}

  private key(key: string): string {
    return this.redis.key('counter', this.name, key);
  }

  async increment(key: string, windowMs: number, options: { renew?: boolean } = {}): Promise<CounterValue> {
    const reply = (await this.redis.script(INCREMENT, [this.key(key)], [Math.max(1, Math.ceil(windowMs)), options.renew ? '1' : '0'])) as [number, number];
    return { count: Number(reply[0]), resetInMs: Number(reply[1]) };
  }

  async read(keys: readonly string[]): Promise<CounterValue[]> {
    if (keys.length === 0) return [];
    const reply = (await this.redis.script(
      READ,
      keys.map((key) => this.key(key)),
      [],
    )) as number[];
    return keys.map((_, index) => ({ count: Number(reply[index * 2]), resetInMs: Number(reply[index * 2 + 1]) }));
  }
}
