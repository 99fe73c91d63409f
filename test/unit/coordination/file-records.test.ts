/**
 * The records of a single Berth process: one file per record under `<root>/_berth/<map>/`, read
 * once into memory. A write touches one file whatever the map holds, and the documents older
 * versions wrote (`sessions.json`, `users.json`, `api-keys.json`) are taken over at first use.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ApiKeyStore, type ApiKeyRecord } from '../../../src/auth/api-keys.js';
import { SessionStore } from '../../../src/auth/sessions.js';
import { UserDirectory } from '../../../src/auth/user-directory.js';
import { FileRecords, localCoordination } from '../../../src/storage/file-records.js';
import { Layout } from '../../../src/storage/layout.js';
import { scratchDir } from '../../helpers/scratch.js';

const readJson = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

/** Each file of `folder` with what would show any rewrite of it: inode, size and mtime in ns. */
async function snapshot(folder: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const name of await readdir(folder)) {
    const info = await stat(path.join(folder, name), { bigint: true });
    files.set(name, `${info.ino}:${info.size}:${info.mtimeNs}`);
  }
  return files;
}

describe('FileRecords', () => {
  it('get, set, take and entries; a key is only ever a key; callers hold copies', async () => {
    const root = await scratchDir('records');
    const records = new FileRecords<{ n: number }>(new Layout(root), 'things');
    expect(await records.get('a')).toBeUndefined();
    await records.set('a', { n: 1 });
    await records.set('b', { n: 2 });
    expect(await records.get('a')).toEqual({ n: 1 });
    expect(await records.take('a')).toEqual({ n: 1 });
    expect(await records.take('a')).toBeUndefined();
    expect(await records.entries()).toEqual([['b', { n: 2 }]]);
    const held = (await records.get('b'))!;
    held.n = 99;
    expect(await records.get('b')).toEqual({ n: 2 });
    for (const key of ['__proto__', '../../etc/passwd', 'a/b', 'x'.repeat(1000)]) await records.set(key, { n: key.length });
    expect(await records.get('constructor')).toBeUndefined();
    // What another process (a restart) reads back is what was written.
    const reopened = new FileRecords<{ n: number }>(new Layout(root), 'things');
    expect(Object.fromEntries(await reopened.entries())).toEqual(Object.fromEntries(await records.entries()));
    expect(await reopened.get('../../etc/passwd')).toEqual({ n: 16 });
    // Every file is a record named by the SHA-256 of its key, inside the map's folder.
    const names = await readdir(path.join(root, '_berth', 'things'));
    expect(names.every((name) => /^[0-9a-f]{64}\.json$/.test(name))).toBe(true);
    expect(names).toHaveLength(5);
  });

  it('writes one file per change, whatever the map holds (no rewrite of the others)', { timeout: 30_000 }, async () => {
    const root = await scratchDir('records');
    const records = new FileRecords<{ n: number }>(new Layout(root), 'many');
    // Filled concurrently (one key each, so no write waits on another): 2,000 fsynced writes in a row take seconds.
    await Promise.all(Array.from({ length: 2_000 }, (_, i) => records.set(`key-${i}`, { n: i })));
    const folder = path.join(root, '_berth', 'many');
    const before = await snapshot(folder);
    await records.set('one-more', { n: -1 });
    await records.set('key-5', { n: 5_000 });
    expect(await records.take('key-6')).toEqual({ n: 6 });
    const after = await snapshot(folder);
    const changed = [...new Set([...before.keys(), ...after.keys()])].filter((name) => before.get(name) !== after.get(name));
    const fileOf = (key: string) => `${createHash('sha256').update(key).digest('hex')}.json`;
    expect(changed.sort()).toEqual([fileOf('one-more'), fileOf('key-5'), fileOf('key-6')].sort());
  });

  it('honours ttl: expired records are never returned, and their files go', async () => {
    const root = await scratchDir('records');
    const records = new FileRecords<string>(new Layout(root), 'sessions');
    await records.set('short', 'x', { ttlMs: 50 });
    await records.set('long', 'y', { ttlMs: 60_000 });
    await records.set('forever', 'z');
    expect(await records.get('short')).toBe('x');
    await sleep(80);
    expect(await records.get('short')).toBeUndefined();
    expect(await records.take('short')).toBeUndefined();
    expect((await records.entries()).map(([key]) => key).sort()).toEqual(['forever', 'long']);
    const reopened = new FileRecords<string>(new Layout(root), 'sessions');
    expect((await reopened.entries()).map(([key]) => key).sort()).toEqual(['forever', 'long']);
    expect(await readdir(path.join(root, '_berth', 'sessions'))).toHaveLength(2);
    // Rewritten without a ttl, a record no longer expires.
    await records.set('long', 'y2');
    expect(await readJson(new Layout(root).stateRecord('sessions', 'long'))).toEqual({ key: 'long', value: 'y2' });
  });

  it('takes a key that is not there without writing anything', async () => {
    const root = await scratchDir('records');
    const records = new FileRecords<string>(new Layout(root), 'keys');
    expect(await records.take('nothing')).toBeUndefined();
    expect(await exists(path.join(root, '_berth'))).toBe(false);
  });
});

describe('localCoordination', () => {
  it('takes over the documents of an older version: same records, one file each, the document gone', async () => {
    const root = await scratchDir('root');
    const state = path.join(root, '_berth');
    await mkdir(state);
    const now = Date.now();
    const sessionId = 'an-old-session-id';
    const oldSession = { username: 'alice', groups: ['admins'], provider: 'oidc', created: now - 1000, expires: now + 60_000 };
    const sessionKey = createHash('sha256').update(sessionId).digest('base64url');
    const expiredKey = createHash('sha256').update('expired').digest('base64url');
    await writeFile(
      path.join(state, 'sessions.json'),
      JSON.stringify({ sessions: { [sessionKey]: oldSession, [expiredKey]: { ...oldSession, expires: now - 1 } }, sessionsExpiry: { [sessionKey]: now + 60_000, [expiredKey]: now - 1 } }),
    );
    const oldUser = { groups: ['dev'], provider: 'oidc', lastLogin: '2024-01-01T00:00:00.000Z' };
    await writeFile(path.join(state, 'users.json'), JSON.stringify({ users: { alice: oldUser } }));
    const oldKey: ApiKeyRecord = { id: 'k1', owner: 'alice', label: 'ci', hash: createHash('sha256').update('zak_old').digest('hex'), createdAt: '2024-01-01T00:00:00.000Z' };
    await writeFile(path.join(state, 'api-keys.json'), JSON.stringify({ keys: { k1: oldKey } }));

    const coordination = localCoordination(root);
    expect(coordination.shared).toBe(false);
    const sessions = new SessionStore(coordination.records('sessions'));
    const users = new UserDirectory(coordination.records('users'), coordination.locks);
    const apiKeys = new ApiKeyStore(coordination);

    expect(await sessions.get(sessionId)).toEqual(oldSession);
    expect(await users.get('alice')).toEqual(oldUser);
    expect(await apiKeys.verify('alice', 'zak_old', Date.parse(oldKey.createdAt) + 1000)).toMatchObject({ id: 'k1' });
    expect((await apiKeys.list('alice')).map((key) => key.id)).toEqual(['k1']);
    for (const document of ['sessions.json', 'users.json', 'api-keys.json']) expect(await exists(path.join(state, document)), document).toBe(false);
    expect(await readdir(path.join(state, 'sessions'))).toHaveLength(1);

    // alice's next sign-in binds her name to her subject, and her old key follows it.
    expect(await users.signIn('alice', 'oidc', 'sub-alice', ['dev'])).toEqual({ ok: true, adopted: true });
    await apiKeys.adopt('alice', 'oidc', 'sub-alice');
    expect(await apiKeys.verify('alice', 'zak_old')).toMatchObject({ id: 'k1', provider: 'oidc', subject: 'sub-alice' });

    // A restart reads the same state from the files.
    const again = localCoordination(root);
    expect(await new SessionStore(again.records('sessions')).get(sessionId)).toEqual(oldSession);
    expect(await new UserDirectory(again.records('users'), again.locks).get('alice')).toMatchObject({ sub: 'sub-alice' });
    expect(await new ApiKeyStore(again).verify('alice', 'zak_old')).toMatchObject({ id: 'k1' });
  });

  it('keeps other maps (single-use sign-in states) in memory, and expires them', async () => {
    const root = await scratchDir('root');
    const coordination = localCoordination(root);
    const used = coordination.records<boolean>('used-logins');
    await used.set('state', true, { ttlMs: 30 });
    expect(await used.get('state')).toBe(true);
    await sleep(50);
    expect(await used.get('state')).toBeUndefined();
    expect(coordination.records('used-logins')).toBe(used);
    expect(await exists(path.join(root, '_berth'))).toBe(false);
  });
});
