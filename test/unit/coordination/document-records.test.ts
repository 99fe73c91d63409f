/**
 * The records of a single Berth process: JSON documents under `<root>/_berth/`, in the formats Berth
 * has always written, so the state of an existing installation keeps working.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ApiKeyStore, type ApiKeyRecord } from '../../../src/auth/api-keys.js';
import { SessionStore, SESSION_TTL_MS } from '../../../src/auth/sessions.js';
import { UserDirectory } from '../../../src/auth/user-directory.js';
import { DocumentRecords, localCoordination, type RecordsDocument } from '../../../src/storage/document-records.js';
import { JsonDocument } from '../../../src/storage/json-document.js';
import { scratchDir } from '../../helpers/scratch.js';

const readJson = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;

describe('DocumentRecords', () => {
  it('get, set, take and entries over one field of the document', async () => {
    const file = path.join(await scratchDir('records'), 'things.json');
    const records = new DocumentRecords<{ n: number }>(new JsonDocument<RecordsDocument>(file, () => ({ things: {} })), 'things');
    expect(await records.get('a')).toBeUndefined();
    await records.set('a', { n: 1 });
    await records.set('b', { n: 2 });
    expect(await records.get('a')).toEqual({ n: 1 });
    expect(await readJson(file)).toEqual({ things: { a: { n: 1 }, b: { n: 2 } } });
    expect(await records.take('a')).toEqual({ n: 1 });
    expect(await records.take('a')).toBeUndefined();
    expect(await records.entries()).toEqual([['b', { n: 2 }]]);
    // What a caller holds is a copy: changing it changes nothing stored.
    const held = (await records.get('b'))!;
    held.n = 99;
    expect(await records.get('b')).toEqual({ n: 2 });
    // A key is only ever a key.
    await records.set('__proto__', { n: 3 });
    expect(await records.get('__proto__')).toEqual({ n: 3 });
    expect(await records.get('constructor')).toBeUndefined();
    expect(Object.fromEntries(await records.entries())).toEqual(JSON.parse('{"b":{"n":2},"__proto__":{"n":3}}'));
  });

  it('honours ttl: expired records are never returned and are pruned at the next write', async () => {
    const file = path.join(await scratchDir('records'), 'sessions.json');
    const records = new DocumentRecords<string>(new JsonDocument<RecordsDocument>(file, () => ({ sessions: {} })), 'sessions');
    await records.set('short', 'x', { ttlMs: 50 });
    await records.set('long', 'y', { ttlMs: 60_000 });
    await records.set('forever', 'z');
    expect(await records.get('short')).toBe('x');
    await sleep(80);
    expect(await records.get('short')).toBeUndefined();
    expect((await records.entries()).map(([key]) => key).sort()).toEqual(['forever', 'long']);
    await records.set('other', 'w');
    const saved = await readJson(file);
    expect(Object.keys(saved.sessions as object).sort()).toEqual(['forever', 'long', 'other']);
    expect(Object.keys(saved.sessionsExpiry as object)).toEqual(['long']);
    // Rewritten without a ttl, a record no longer expires.
    await records.set('long', 'y2');
    expect(await readJson(file)).toEqual({ sessions: { long: 'y2', forever: 'z', other: 'w' } });
  });

  it('a key that is not there is taken without rewriting the file', async () => {
    const file = path.join(await scratchDir('records'), 'keys.json');
    const records = new DocumentRecords<string>(new JsonDocument<RecordsDocument>(file, () => ({ keys: {} })), 'keys');
    expect(await records.take('nothing')).toBeUndefined();
    await expect(readFile(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('localCoordination', () => {
  it('reads and writes the auth files of an existing installation in their formats', async () => {
    const root = await scratchDir('root');
    await mkdir(path.join(root, '_berth'));
    const now = Date.now();
    const sessionId = 'an-old-session-id';
    const oldSession = { username: 'alice', groups: ['admins'], provider: 'oidc', created: now - 1000, expires: now + 60_000 };
    const sessionKey = createHash('sha256').update(sessionId).digest('base64url');
    await writeFile(path.join(root, '_berth', 'sessions.json'), JSON.stringify({ sessions: { [sessionKey]: oldSession } }));
    const oldUser = { groups: ['dev'], provider: 'oidc', lastLogin: '2024-01-01T00:00:00.000Z' };
    await writeFile(path.join(root, '_berth', 'users.json'), JSON.stringify({ users: { alice: oldUser } }));
    const oldKey: ApiKeyRecord = { id: 'k1', owner: 'alice', label: 'ci', hash: createHash('sha256').update('zak_old').digest('hex'), createdAt: '2024-01-01T00:00:00.000Z' };
    await writeFile(path.join(root, '_berth', 'api-keys.json'), JSON.stringify({ keys: { k1: oldKey } }));

    const coordination = localCoordination(root);
    expect(coordination.shared).toBe(false);
    const sessions = new SessionStore(coordination.records('sessions'));
    const users = new UserDirectory(coordination.records('users'));
    const apiKeys = new ApiKeyStore(coordination.records('api-keys'), coordination.locks);

    expect(await sessions.get(sessionId)).toEqual(oldSession);
    expect(await users.get('alice')).toEqual(oldUser);
    expect(await apiKeys.verify('alice', 'zak_old', Date.parse(oldKey.createdAt) + 1000)).toMatchObject({ id: 'k1' });

    const created = await sessions.create({ username: 'bob', groups: [], provider: 'htpasswd' });
    const sessionsFile = await readJson(path.join(root, '_berth', 'sessions.json'));
    expect(Object.keys(sessionsFile).sort()).toEqual(['sessions', 'sessionsExpiry']);
    const stored = sessionsFile.sessions as Record<string, unknown>;
    expect(stored[sessionKey]).toEqual(oldSession);
    expect(stored[createHash('sha256').update(created.id).digest('base64url')]).toMatchObject({ username: 'bob', expires: created.expires });
    expect(JSON.stringify(sessionsFile)).not.toContain(created.id);
    expect(created.expires - Date.now()).toBeLessThanOrEqual(SESSION_TTL_MS);

    await users.recordLogin('carol', ['ops'], 'oidc');
    const usersFile = await readJson(path.join(root, '_berth', 'users.json'));
    expect(usersFile).toEqual({ users: { alice: oldUser, carol: { groups: ['ops'], provider: 'oidc', lastLogin: expect.any(String) } } });

    const { record } = await apiKeys.create('alice', 'new', undefined, undefined);
    const keysFile = await readJson(path.join(root, '_berth', 'api-keys.json'));
    expect(Object.keys(keysFile)).toEqual(['keys']);
    expect(Object.keys(keysFile.keys as object).sort()).toEqual(['k1', record.id].sort());

    await sessions.destroy(sessionId);
    expect(await sessions.get(sessionId)).toBeUndefined();
    expect((await readJson(path.join(root, '_berth', 'sessions.json'))).sessions).not.toHaveProperty(sessionKey);
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
  });
});
