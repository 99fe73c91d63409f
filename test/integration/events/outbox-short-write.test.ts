/**
 * The disk outbox when a write stores only part of a batch: a child process appends under a file-size
 * limit (`ulimit -f`, which makes write(2) short, then EFBIG; Node ignores SIGXFSZ), using the
 * outbox from dist/ (built by the global setup). Only the pushes whose records are whole on disk
 * are acknowledged, the segment keeps whole lines only, and the next append after a reopen starts
 * a line of its own.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { FsOutbox } from '../../../src/events/outbox.js';

const run = promisify(execFile);
const folders: string[] = [];
afterEach(async () => {
  for (const item of folders.splice(0)) await rm(item, { recursive: true, force: true });
});

/** Appends five records of about 3 KiB one after the other; prints the ids acknowledged and the errors. */
const CHILD = `
const { FsOutbox } = await import(process.env.OUTBOX_MODULE);
const outbox = await FsOutbox.open(process.env.OUTBOX_FOLDER);
const acknowledged = [];
const errors = [];
for (let at = 1; at <= 5; at++) {
  try {
    await outbox.append([{ id: 'e' + at, pad: 'x'.repeat(3000) }]);
    acknowledged.push('e' + at);
  } catch (error) {
    errors.push(error.code);
  }
}
const lastSeq = outbox.lastSeq;
await outbox.close();
console.log(JSON.stringify({ acknowledged, errors, lastSeq }));
`;

describe('FsOutbox under a file-size limit', () => {
  it('acknowledges only whole records and leaves whole lines when a write comes up short', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-outbox-short-'));
    folders.push(dir);
    const module = pathToFileURL(path.resolve('dist/events/outbox.js')).href;
    // 8 KiB: two records fit, the third is cut by the limit.
    const { stdout } = await run('bash', ['-c', `ulimit -f 8 && exec "${process.execPath}" --input-type=module -e "$CHILD"`], {
      env: { ...process.env, CHILD, OUTBOX_MODULE: module, OUTBOX_FOLDER: dir },
    });
    const result = JSON.parse(stdout.trim()) as { acknowledged: string[]; errors: string[]; lastSeq: number };
    expect(result.acknowledged).toEqual(['e1', 'e2']);
    expect(result.errors).toEqual(['EFBIG', 'EFBIG', 'EFBIG']);
    // What is pending counts from the records on disk: the refused ones are not waiting anywhere.
    expect(result.lastSeq).toBe(2);
    const [segment] = (await readdir(dir)).filter((name) => name.startsWith('segment-'));
    const file = path.join(dir, segment!);
    const ids = (text: string) =>
      text
        .split('\n')
        .slice(0, -1)
        .map((line) => (JSON.parse(line) as { event: { id: string } }).event.id);
    expect(await readFile(file, 'utf8')).toMatch(/\n$/);
    expect(ids(await readFile(file, 'utf8'))).toEqual(['e1', 'e2']);
    // Without the limit, the next record is a line of its own after the acknowledged ones.
    const outbox = await FsOutbox.open(dir);
    expect(outbox.lastSeq).toBe(2);
    await outbox.append([{ id: 'e6' }]);
    await outbox.close();
    expect(ids(await readFile(file, 'utf8'))).toEqual(['e1', 'e2', 'e6']);
  });
});
