import bcrypt from 'bcryptjs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir } from '../../helpers/scratch.js';
import { parseBasic } from '../../../src/auth/basic-credentials.js';
import { HtpasswdStore, htpasswdLine, parseHtpasswd } from '../../../src/auth/htpasswd.js';

const basic = (raw: string | Buffer) => `Basic ${Buffer.from(raw).toString('base64')}`;

describe('parseBasic', () => {
  it('reads user and password (the password may contain colons)', () => {
    expect(parseBasic(basic('robot:pa:ss'))).toEqual({ ok: true, username: 'robot', password: 'pa:ss' });
    expect(parseBasic(`basic ${Buffer.from('a:b').toString('base64')}`)).toEqual({ ok: true, username: 'a', password: 'b' });
  });
  it('ignores other schemes', () => expect(parseBasic('Bearer abc')).toBeUndefined());
  it('reads an empty pair as no credentials (containers/image sends it)', () => {
    expect(parseBasic(basic(':'))).toEqual({ ok: 'empty' });
    expect(parseBasic('Basic ')).toEqual({ ok: 'empty' });
  });
  it.each([
    ['no colon', basic('robot')],
    ['empty user', basic(':x')],
    ['not base64', 'Basic ***'],
    ['not UTF-8', basic(Buffer.from([0xff, 0xfe, 0x3a, 0x41]))],
    ['too long', basic(`u:${'x'.repeat(5000)}`)],
  ])('refuses %s', (_why, header) => expect(parseBasic(header)).toMatchObject({ ok: false }));
});

describe('htpasswd', () => {
  const hash = bcrypt.hashSync('secret', 4);

  it('accepts bcrypt $2a$, $2b$ and $2y$ entries, comments and blank lines', () => {
    const users = parseHtpasswd(`# robots\nbuildbot:${hash}\n\nalice:${hash.replace('$2b$', '$2y$')}\nbob:${hash.replace('$2b$', '$2a$')}\n`, 'h');
    expect([...users.keys()]).toEqual(['buildbot', 'alice', 'bob']);
  });

  it.each([
    ['an MD5 (apr1) hash', 'old:$apr1$abc$xyz'],
    ['a SHA-1 hash', 'old:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g='],
    ['crypt', 'old:rqXexS6ZhobKA'],
    ['plaintext', 'old:password'],
    ['no colon', 'lonely'],
  ])('refuses %s naming the line', (_why, line) => {
    expect(() => parseHtpasswd(`ok:${hash}\n${line}\n`, '/etc/htpasswd')).toThrow(/^\/etc\/htpasswd:2: /);
  });

  it('refuses a user listed twice', () => expect(() => parseHtpasswd(`a:${hash}\na:${hash}`, 'h')).toThrow(/listed twice/));

  it('verifies passwords, and unknown users fail the same way', async () => {
    const dir = await scratchDir('htpasswd');
    const file = path.join(dir, 'htpasswd');
    await writeFile(file, `${await htpasswdLine('buildbot', 'secret')}\n`);
    const store = await HtpasswdStore.open(file);
    expect(await store.verify('buildbot', 'secret')).toBe(true);
    expect(await store.verify('buildbot', 'wrong')).toBe(false);
    expect(await store.verify('ghost', 'secret')).toBe(false);
  });

  it('htpasswdLine refuses user names that would break the file', async () => {
    await expect(htpasswdLine('a:b', 'x')).rejects.toThrow();
    await expect(htpasswdLine('a b', 'x')).rejects.toThrow();
    expect(await htpasswdLine('ci', 'x')).toMatch(/^ci:\$2[aby]\$10\$/);
  });
});
