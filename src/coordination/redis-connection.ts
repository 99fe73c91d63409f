/**
 * The one ioredis connection a RedisCoordination's locks and records share: key names, Lua scripts
 * and the mapping of every failure to UNAVAILABLE (with the password kept out of messages).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RegistryError } from '../oci/errors.js';

/** Where Redis outages and lost locks are reported (the app's logger). */
export interface CoordinationLog {
  info(message: string): void;
  error(message: string): void;
}

/** A Lua script run by its SHA-1 (EVALSHA), sent whole only when Redis does not know it (after a restart). */
export interface LuaScript {
  readonly lua: string;
  readonly sha: string;
}

export function luaScript(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** The URL as it may be shown: the password masked. */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.href;
  } catch {
    return '(an unparseable Redis URL)';
  }
}

/** The connection the locks and records share: key names, commands and the mapping of failures. */
export class RedisConnection {
  private readonly secret: string | undefined;

  constructor(
    readonly client: Redis,
    readonly prefix: string,
    url: string,
  ) {
    try {
      const password = decodeURIComponent(new URL(url).password);
      this.secret = password === '' ? undefined : password;
    } catch {
      this.secret = undefined;
    }
  }

  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  /** A message with the password removed, whatever produced it. */
  clean(message: string): string {
    return this.secret === undefined ? message : message.split(this.secret).join('***');
  }

  /**
   * The 503 for a failed command. Its detail reaches the client (the UNAVAILABLE row exposes it),
   * so it is Berth's own words, never the driver's message (which names hosts and ports); the
   * coordination's log has the full reason.
   */
  unavailable(error: unknown): RegistryError {
    if (error instanceof RegistryError) return error;
    return new RegistryError('UNAVAILABLE', `Redis is unreachable: ${this.reasonOf(error)}`, { cause: error });
  }

  private reasonOf(error: unknown): string {
    const message = error instanceof Error ? error.message : String(error);
    if (this.client.status !== 'ready' || /enableOfflineQueue|Connection is closed|max retries per request/i.test(message)) return 'no connection';
    if (/timed out/i.test(message)) return 'a command timed out';
    const code = /^([A-Z]{3,})\b/.exec(message)?.[1];
    if (code !== undefined) return `Redis refused a command (${code})`;
    return 'the connection failed';
  }

  /** Runs Redis commands; any failure becomes UNAVAILABLE. */
  async call<T>(work: (client: Redis) => Promise<T>): Promise<T> {
    try {
      return await work(this.client);
    } catch (error) {
      throw this.unavailable(error);
    }
  }

  /** EVALSHA, falling back to EVAL when the script cache is empty (a restarted Redis). */
  script(script: LuaScript, keys: string[], args: Array<string | number>): Promise<unknown> {
    return this.call(async (client) => {
      try {
        return await client.evalsha(script.sha, keys.length, ...keys, ...args);
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
        return client.eval(script.lua, keys.length, ...keys, ...args);
      }
    });
  }
}
