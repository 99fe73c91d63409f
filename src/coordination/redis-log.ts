/**
 * A log the replicas share, in Redis: a stream whose entry ids are the entries' numbers (`<n>-0`),
 * so an entry has one number for every replica and every consumer, and a consumer's position is a
 * plain integer. Keys, for prefix `berth` and log `events`:
 *
 *   berth:log:events            the stream: one entry per value, field `v`
 *   berth:log:events:last       the newest entry's number (kept when the stream is trimmed empty)
 *   berth:log:events:positions  a hash: consumer → the number of the last entry it is done with
 *   berth:log:events:seen       a hash: consumer → when (ms) its position was last read or saved
 *
 * An append is one EVAL (INCRBY, then XADD per value), sent in the order `append` is called: the
 * connection keeps that order, so callers that append under a lock get their entries in lock order.
 * It is EVAL, not EVALSHA: after a Redis restart EVALSHA fails and falls back, and two fallbacks
 * could reach Redis out of order. Reads are XRANGE pages of bounded size: a backlog of any length
 * costs the reader one page of memory.
 *
 * Durability is Redis's own: with `appendonly yes` and `appendfsync always` an acknowledged append
 * survives a power cut; with `everysec` (Redis's default for AOF) at most the last second is at risk.
 */
import type { SharedLog } from './coordination.js';
import { luaScript, type RedisConnection } from './redis-connection.js';

/** KEYS: stream, last. ARGV: values. Returns the last entry's number. */
const APPEND = `
local last = redis.call('INCRBY', KEYS[2], #ARGV)
local first = last - #ARGV
for i, value in ipairs(ARGV) do
  redis.call('XADD', KEYS[1], string.format('%d-0', first + i), 'v', value)
end
return last
`;

/** KEYS: last, positions, seen. ARGV: consumer, now (ms). The saved position, or the newest entry saved as the start. */
const POSITION = luaScript(`
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
local position = redis.call('HGET', KEYS[2], ARGV[1])
if position then return tonumber(position) end
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
redis.call('HSET', KEYS[2], ARGV[1], last)
return last
`);

/** KEYS: positions, seen. ARGV: consumer, number, now (ms). Moves forward only (a late, slower writer cannot move it back). */
const ADVANCE = luaScript(`
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local position = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > position then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
`);

/**
 * KEYS: stream, positions, seen. ARGV: now (ms), forget after (ms), own consumers. Trims through the
 * lowest position of every consumer in the hash (one pass over it: as many as there are sinks),
 * after deleting those long unseen that are not own. A position without a time (saved before times
 * were kept) gets one now.
 */
const TRIM_PASSED = luaScript(`
local now = tonumber(ARGV[1])
local own = {}
for i = 3, #ARGV do own[ARGV[i]] = true end
local positions = redis.call('HGETALL', KEYS[2])
local lowest = nil
local found = 0
for i = 1, #positions, 2 do
  local consumer = positions[i]
  local position = tonumber(positions[i + 1])
  local seen = tonumber(redis.call('HGET', KEYS[3], consumer) or '')
  if not seen then
    seen = now
    redis.call('HSET', KEYS[3], consumer, now)
  end
  if own[consumer] then found = found + 1 end
  if own[consumer] or now - seen <= tonumber(ARGV[2]) then
    if not lowest or position < lowest then lowest = position end
  else
    redis.call('HDEL', KEYS[2], consumer)
    redis.call('HDEL', KEYS[3], consumer)
  end
end
if found < #ARGV - 2 or not lowest then return -1 end
redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d-0', lowest + 1))
return lowest
`);

export class RedisLog implements SharedLog {
  private readonly stream: string;
  private readonly last: string;
  private readonly positions: string;
  private readonly seen: string;

  constructor(
    private readonly redis: RedisConnection,
    name: string,
  ) {
    this.stream = redis.key('log', name);
    this.last = redis.key('log', name, 'last');
    this.positions = redis.key('log', name, 'positions');
    this.seen = redis.key('log', name, 'seen');
  }

  async append(values: string[]): Promise<number> {
    if (values.length === 0) return (await this.progress([])).last;
    return Number(await this.redis.call((client) => client.eval(APPEND, 2, this.stream, this.last, ...values)));
  }

  async read(after: number, count: number): Promise<Array<{ seq: number; value: string }>> {
    const entries = await this.redis.call((client) => client.xrange(this.stream, `${after + 1}-0`, '+', 'COUNT', count));
    return entries.map(([id, fields]) => ({ seq: Number(id.slice(0, id.indexOf('-'))), value: fields[fields.indexOf('v') + 1] ?? '' }));
  }

  async position(consumer: string): Promise<number> {
    return Number(await this.redis.script(POSITION, [this.last, this.positions, this.seen], [consumer, Date.now()]));
  }

  async advance(consumer: string, seq: number): Promise<void> {
    await this.redis.script(ADVANCE, [this.positions, this.seen], [consumer, seq, Date.now()]);
  }

  async progress(consumers: string[]): Promise<{ last: number; positions: Array<number | undefined> }> {
    const [last, positions] = await this.redis.call(async (client) => {
      const pipeline = client.pipeline().get(this.last);
      if (consumers.length > 0) pipeline.hmget(this.positions, ...consumers);
      const replies = (await pipeline.exec()) ?? [];
      for (const [error] of replies) if (error) throw error;
      return [replies[0]?.[1] as string | null, (replies[1]?.[1] as Array<string | null> | undefined) ?? []] as const;
    });
    return { last: Number(last ?? 0), positions: consumers.map((_, at) => (positions[at] == null ? undefined : Number(positions[at]))) };
  }

  async trimPassed(own: string[], forgetAfterMs: number): Promise<void> {
    await this.redis.script(TRIM_PASSED, [this.stream, this.positions, this.seen], [Date.now(), forgetAfterMs, ...own]);
  }
}
