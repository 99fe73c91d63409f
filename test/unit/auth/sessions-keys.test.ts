import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir } from '../../helpers/scratch.js';
import { ApiKeyStore } from '../../../src/auth/api-keys.js';
import { loadCookieKeys, seal, signValue, unseal, unsignValue } from '../../../src/auth/cookie-keys.js';
import { SessionStore, SESSION_TTL_MS } from '../../../src/auth/sessions.js';
import { localCoordination } from '../../../src/storage/file-records.js';
import { safeCallback } from '../../../src/http/public-origin.js';

const tempFile = async (name: string) => path.join(await scratchDir('auth'), name);
/** Every file under `folder`, as one string: what a secret must never be found in. */
const filesIn = async (folder: string) =>
  (
    await Promise.all((await readdir(folder, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => readFile(path.join(entry.parentPath, entry.name), 'utf8')))
  ).join('\n');

describe('cookie keys', () => {
  it('signs and seals; tampering, other keys and expiry are refused', async () => {
    const keys = await loadCookieKeys(undefined);
    const other = await loadCookieKeys(undefined);
    expect(keys.persistent).toBe(false);
    const signed = signValue(keys, 'abc');
    expect(unsignValue(keys, signed)).toBe('abc');
    expect(unsignValue(keys, `${signed}x`)).toBeUndefined();
    expect(unsignValue(keys, signed.replace('abc', 'abd'))).toBeUndefined();
    expect(unsignValue(other, signed)).toBeUndefined();
    const sealed = seal(keys, { nonce: 'n' }, Date.now() + 1000);
    expect(unseal(keys, sealed)).toEqual({ nonce: 'n' });
    expect(unseal(other, sealed)).toBeUndefined();
    expect(unseal(keys, sealed, Date.now() + 2000)).toBeUndefined();
    expect(unseal(keys, `${sealed.slice(0, -2)}AA`)).toBeUndefined();
  });

  it('derives the same keys from the same sessionKeysFile (restarts, replicas)', async () => {
    const file = await tempFile('keys.json');
    await writeFile(file, JSON.stringify({ hashKey: 'h'.repeat(32), encryptKey: 'e'.repeat(32) }));
    const a = await loadCookieKeys(file);
    const b = await loadCookieKeys(file);
    expect(a.persistent).toBe(true);
    expect(unseal(b, seal(a, 'x', Date.now() + 1000))).toBe('x');
    await writeFile(file, JSON.stringify({ hashKey: 'short' }));
    await expect(loadCookieKeys(file)).rejects.toThrow(/at least 16 characters/);
  });
});

describe('sessions', () => {
  it('issue fresh ids, expire, and are destroyed server-side; the file holds no ids', async () => {
    const root = await scratchDir('auth');
    const store = new SessionStore(localCoordination(root).records('sessions'));
    const now = Date.now();
    const a = await store.create({ username: 'alice', groups: ['admins'], provider: 'oidc' }, now);
    const b = await store.create({ username: 'alice', groups: ['admins'], provider: 'oidc' }, now);
    expect(a.id).not.toBe(b.id);
    expect(a.expires).toBe(now + SESSION_TTL_MS);
    expect((await store.get(a.id, now))?.username).toBe('alice');
    expect(await store.get(a.id, now + SESSION_TTL_MS + 1)).toBeUndefined();
    expect(await filesIn(root)).not.toContain(a.id);
    await store.destroy(a.id);
    expect(await store.get(a.id, now)).toBeUndefined();
    expect((await store.get(b.id, now))?.username).toBe('alice');
  });
});

describe('API keys', () => {
  it('are shown once, stored hashed, bound to their owner, expire and can be revoked', async () => {
    const root = await scratchDir('auth');
    const store = new ApiKeyStore(localCoordination(root));
    const alice = { username: 'alice', provider: 'htpasswd' };
    const { key, record } = await store.create(alice, 'ci', undefined, 'podman');
    expect(key).toMatch(/^zak_[0-9a-f]{32}$/);
    expect(await filesIn(root)).not.toContain(key);
    expect(await store.verify('alice', key)).toMatchObject({ id: record.id });
    expect(await store.verify('bob', key)).toBeUndefined();
    // Another last digit (a key ending in 0 made this one-in-sixteen flaky).
    expect(await store.verify('alice', `${key.slice(0, -1)}${key.endsWith('0') ? '1' : '0'}`)).toBeUndefined();
    const soon = await store.create(alice, 'short', new Date(Date.now() + 1000), undefined);
    expect(await store.verify('alice', soon.key, Date.now() + 2000)).toBeUndefined();
    expect((await store.list('alice')).map((view) => view.label)).toEqual(['ci', 'short']);
    expect(await store.list('bob')).toEqual([]);
    expect(await store.revoke('bob', record.id)).toBe(false);
    expect(await store.revoke('alice', record.id)).toBe(true);
    expect(await store.verify('alice', key)).toBeUndefined();
  });
});

describe('safeCallback', () => {
  const origin = 'https://oci.example.org';
  it.each([
    [undefined, '/'],
    ['/repositories?q=a', '/repositories?q=a'],
    ['//evil.example/x', '/'],
    ['/\\evil.example', '/'],
    ['https://evil.example/', '/'],
    ['javascript:alert(1)', '/'],
    ['https://oci.example.org/image/a', 'https://oci.example.org/image/a'],
    ['https://ui.example.org/x', 'https://ui.example.org/x'],
    ['/x\nSet-Cookie: a=b', '/'],
  ])('%j → %j', (input, expected) => {
    expect(safeCallback(input, origin, ['https://ui.example.org'])).toBe(expected);
  });
});
