/**
 * Keys for Berth's cookies: a MAC key for the session cookie and an AES-256-GCM key for the
 * short-lived login cookie (which holds the PKCE verifier and nonce). From zot's `sessionKeysFile`
 * (`{"hashKey": "...", "encryptKey": "..."}`) they survive restarts and are shared by replicas.
 * Without it, replicas sharing a coordination (Redis) share one random secret kept there (the first
 * replica to start makes it), so a sign-in begun on one replica can end on another and a session
 * cookie made by one is accepted by all; a single process makes random keys at start.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../config/config.js';
import type { Coordination } from '../coordination/coordination.js';

export interface CookieKeys {
  mac: Buffer;
  encrypt: Buffer;
  /** False when the keys were made at start (sessions and logins in flight die with the process). */
  persistent: boolean;
}

const derive = (material: Buffer | string, purpose: string) => Buffer.from(hkdfSync('sha256', material, 'berth-cookies', purpose, 32));

const keysFrom = (secret: Buffer, persistent: boolean): CookieKeys => ({ mac: derive(secret, 'mac'), encrypt: derive(secret, 'encrypt'), persistent });

export async function loadCookieKeys(file: string | undefined): Promise<CookieKeys> {
  if (file === undefined) return keysFrom(randomBytes(32), false);
  let document: Record<string, unknown>;
  try {
    document = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError([`${file}: cannot read session keys: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`]);
  }
  const keys = Object.fromEntries(Object.entries(document).map(([key, value]) => [key.toLowerCase(), value]));
  const hashKey = keys.hashkey;
  const encryptKey = keys.encryptkey ?? hashKey;
  if (typeof hashKey !== 'string' || hashKey.length < 16 || typeof encryptKey !== 'string' || encryptKey.length < 16) {
    throw new ConfigError([`${file}: expected {"hashKey": "...", "encryptKey": "..."} with keys of at least 16 characters`]);
  }
  return { mac: derive(hashKey, 'mac'), encrypt: derive(encryptKey, 'encrypt'), persistent: true };
}

/**
 * The keys every replica of a shared coordination uses: the secret in its `cookie-keys` records,
 * made by whichever replica gets there first (under a lock, so two never both make one). Throws
 * UNAVAILABLE when the coordination cannot be reached.
 */
export async function sharedCookieKeys(coordination: Coordination): Promise<CookieKeys> {
  const records = coordination.records<string>('cookie-keys');
  const secret =
    (await records.get('secret')) ??
    (await coordination.locks.run('cookie-keys', async () => {
      const existing = await records.get('secret');
      if (existing !== undefined) return existing;
      const made = randomBytes(32).toString('base64url');
      await records.set('secret', made);
      return made;
    }));
  return keysFrom(Buffer.from(secret, 'base64url'), true);
}

/** Whether two sets of keys are the same (compared as secrets). */
export function sameCookieKeys(a: CookieKeys, b: CookieKeys): boolean {
  return timingSafeEqual(a.mac, b.mac) && timingSafeEqual(a.encrypt, b.encrypt);
}

/** `value.mac`: the session cookie, so garbage is refused before any lookup. */
export function signValue(keys: CookieKeys, value: string): string {
  return `${value}.${createHmac('sha256', keys.mac).update(value).digest('base64url')}`;
}

export function unsignValue(keys: CookieKeys, signed: string): string | undefined {
  const dot = signed.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const value = signed.slice(0, dot);
  const expected = Buffer.from(signValue(keys, value).slice(dot + 1));
  const given = Buffer.from(signed.slice(dot + 1));
  return expected.length === given.length && timingSafeEqual(expected, given) ? value : undefined;
}

/** Encrypts and authenticates `value` until `expires` (ms since epoch). */
export function seal(keys: CookieKeys, value: unknown, expires: number): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keys.encrypt, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify({ value, expires }), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

export function unseal<T>(keys: CookieKeys, token: string, now = Date.now()): T | undefined {
  try {
    const raw = Buffer.from(token, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', keys.encrypt, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    const { value, expires } = JSON.parse(text) as { value: T; expires: number };
    return expires > now ? value : undefined;
  } catch {
    return undefined;
  }
}
