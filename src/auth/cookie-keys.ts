/**
 * Keys for Berth's cookies: a MAC key for the session cookie and an AES-256-GCM key for the
 * short-lived login cookie (which holds the PKCE verifier and nonce). From zot's `sessionKeysFile`
 * (`{"hashKey": "...", "encryptKey": "..."}`) they survive restarts and are shared by replicas;
 * without it they are random per process.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../config/config.js';

export interface CookieKeys {
  mac: Buffer;
  encrypt: Buffer;
  /** False when the keys were made at start (sessions and logins in flight die with the process). */
  persistent: boolean;
}

const derive = (material: Buffer | string, purpose: string) => Buffer.from(hkdfSync('sha256', material, 'berth-cookies', purpose, 32));

export async function loadCookieKeys(file: string | undefined): Promise<CookieKeys> {
  if (file === undefined) {
    const secret = randomBytes(32);
    return { mac: derive(secret, 'mac'), encrypt: derive(secret, 'encrypt'), persistent: false };
  }
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
