/**
 * A failed password check takes as long whatever the user: an unknown name, a wrong password of a
 * cost-5 entry (what zot's docs make with `htpasswd -B`) and of a cost-10 entry (`berth htpasswd`)
 * all answer after about one highest-cost bcrypt comparison. Medians of interleaved attempts, and a
 * margin (half) far wider than any load can move them, yet far narrower than the gap it guards
 * against (a cost-5 comparison is about 1/32 of a cost-10 one).
 */
import bcrypt from 'bcryptjs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir } from '../../helpers/scratch.js';
import { HtpasswdStore } from '../../../src/auth/htpasswd.js';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

describe('htpasswd timing', () => {
  it('an unknown user, a cost-5 user and a cost-10 user all fail in about the same time', { timeout: 60_000 }, async () => {
    const file = path.join(await scratchDir('timing'), 'htpasswd');
    await writeFile(file, `quick:${bcrypt.hashSync('quick-pw', 5)}\nslow:${bcrypt.hashSync('slow-pw', 10)}\n`);
    const store = await HtpasswdStore.open(file);
    const unknown: number[] = [];
    const quick: number[] = [];
    const slow: number[] = [];
    for (let i = 0; i < 7; i += 1) {
      unknown.push(await timed(async () => expect(await store.verify('ghost', 'quick-pw')).toBe(false)));
      quick.push(await timed(async () => expect(await store.verify('quick', 'wrong')).toBe(false)));
      slow.push(await timed(async () => expect(await store.verify('slow', 'wrong')).toBe(false)));
    }
    const reference = median(unknown);
    expect(median(quick), JSON.stringify({ unknown, quick, slow })).toBeGreaterThan(reference * 0.5);
    expect(median(slow), JSON.stringify({ unknown, quick, slow })).toBeGreaterThan(reference * 0.5);
    expect(median(quick)).toBeLessThan(reference * 2);
    // The right password still passes, and quickly for a cheap entry: only failures are padded.
    expect(await store.verify('quick', 'quick-pw')).toBe(true);
    expect(await store.verify('slow', 'slow-pw')).toBe(true);
  });
});
