/**
 * The fs outbox on its own: records survive a reopen, a torn last line is cut, each sink's cursor
 * moves on its own, segments roll and are pruned, and a backlog of 100,000 events is read through
 * without holding it in memory.
 */
import { appendFile, mkdir, mkdtemp, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsOutbox } from '../../../src/events/outbox.js';

const folders: string[] = [];
async function folder(): Promise<string> {
  const made = await mkdtemp(path.join(tmpdir(), 'berth-outbox-'));
  folders.push(made);
  return made;
}
afterEach(async () => {
  for (const item of folders.splice(0)) await rm(item, { recursive: true, force: true });
});

describe('FsOutbox', () => {
  it('keeps records across a reopen, cuts a torn last line, and resumes each cursor where it was', async () => {
    const dir = await folder();
    let outbox = await FsOutbox.open(dir);
    const a = await outbox.reader('a');
    const b = await outbox.reader('b');
    await Promise.all([outbox.append([{ id: '1' }, { id: '2' }]), outbox.append([{ id: '3' }])]);
    const first = (await a.next())!;
    expect(first.event).toEqual({ id: '1' });
    await a.commit(first);
    await outbox.close();
    const [segment] = (await readdir(dir)).filter((name) => name.startsWith('segment-'));
    await appendFile(path.join(dir, segment!), '{"seq":4,"at":1,"ev');
    outbox = await FsOutbox.open(dir);
    expect(outbox.lastSeq).toBe(3);
    const again = await outbox.reader('a');
    expect(await again.pending()).toBe(2);
    expect((await again.next())!.event).toEqual({ id: '2' });
    const fromStart = await outbox.reader('b');
    expect((await fromStart.next())!.event).toEqual({ id: '1' });
    void b;
    await outbox.append([{ id: '4' }]);
    const seen: string[] = [];
    for (let record = await again.next(); record; record = await again.next()) {
      seen.push(record.event.id as string);
      await again.commit(record);
    }
    expect(seen).toEqual(['2', '3', '4']);
    expect(await again.pending()).toBe(0);
    await outbox.close();
  });

  it('finds the last record of a segment whose lines are longer than a read buffer, and cuts a torn one', async () => {
    const dir = await folder();
    let outbox = await FsOutbox.open(dir);
    // An image.updated event carries its manifest: a line can be far longer than 64 KiB.
    const big = 'm'.repeat(300 * 1024);
    await outbox.append([
      { id: '1', big },
      { id: '2', big },
    ]);
    await outbox.append([{ id: '3', big }]);
    await outbox.close();
    const [segment] = (await readdir(dir)).filter((name) => name.startsWith('segment-'));
    const file = path.join(dir, segment!);
    const whole = (await stat(file)).size;
    await appendFile(file, `{"seq":4,"at":1,"event":{"id":"4","big":"${big.slice(0, 100 * 1024)}`);
    outbox = await FsOutbox.open(dir);
    expect(outbox.lastSeq).toBe(3);
    expect((await stat(file)).size).toBe(whole);
    await outbox.append([{ id: '4' }]);
    expect(outbox.lastSeq).toBe(4);
    await outbox.close();
  });

  it('hands a sink that keeps up what was just appended from memory, and a sink behind the same records from the file', async () => {
    const dir = await folder();
    const outbox = await FsOutbox.open(dir);
    const keepsUp = await outbox.reader('up');
    const behind = await outbox.reader('behind');
    // Records of uneven sizes, 3 MiB in all: more than is kept in memory, so the reader behind starts in
    // the file and crosses into memory; lines also straddle the appends' chunks.
    const sizes = Array.from({ length: 60 }, (_, at) => 1 + ((at * 7919) % 100) * 1024);
    const upSeen: number[] = [];
    for (const [at, size] of sizes.entries()) {
      await outbox.append([{ id: String(at), pad: 'p'.repeat(size) }]);
      for (let record = await keepsUp.next(); record; record = await keepsUp.next()) {
        expect((record.event.pad as string).length).toBe(sizes[record.seq - 1]);
        upSeen.push(record.seq);
        await keepsUp.commit(record);
      }
    }
    expect(upSeen).toEqual(sizes.map((_, at) => at + 1));
    const behindSeen: number[] = [];
    for (let record = await behind.next(); record; record = await behind.next()) {
      expect(record.event.id).toBe(String(record.seq - 1));
      expect((record.event.pad as string).length).toBe(sizes[record.seq - 1]);
      behindSeen.push(record.seq);
      await behind.commit(record);
    }
    expect(behindSeen).toEqual(upSeen);
    // The newest records come from memory: with the segment moved away, the reader that keeps up
    // still gets the next one (it would fail to open the file otherwise).
    const [segment] = (await readdir(dir)).filter((name) => name.startsWith('segment-'));
    await outbox.append([{ id: 'last' }]);
    await rename(path.join(dir, segment!), path.join(dir, 'moved'));
    expect((await keepsUp.next())?.event).toEqual({ id: 'last' });
    await outbox.close();
  });

  it('opens a new segment again after the open at a rotation failed once', async () => {
    const dir = await folder();
    // A segment just under the 8 MiB limit: the next append fills it, the one after rotates.
    const record = (seq: number, pad: string) => `${JSON.stringify({ seq, at: 1, event: { id: String(seq), pad } })}\n`;
    const limit = 8 * 1024 * 1024;
    await writeFile(path.join(dir, 'segment-0000000000000001.jsonl'), record(1, 'x'.repeat(limit - 1 - record(1, '').length)));
    const outbox = await FsOutbox.open(dir);
    const reader = await outbox.reader('sink');
    await outbox.append([{ id: '2' }]);
    // Where the new segment would go, something that cannot be opened as a file.
    const blocker = path.join(dir, 'segment-0000000000000003.jsonl');
    await mkdir(blocker);
    await expect(outbox.append([{ id: '3' }])).rejects.toMatchObject({ code: 'EISDIR' });
    await rmdir(blocker);
    // The full segment's handle was closed at the rotation: appends failed with EBADF until a restart.
    await outbox.append([{ id: '4' }]);
    await outbox.append([{ id: '5' }]);
    const seen: unknown[] = [];
    for (let next = await reader.next(); next; next = await reader.next()) {
      seen.push(next.event.id);
      await reader.commit(next);
    }
    expect(seen).toEqual(['2', '4', '5']);
    expect(await outbox.segments()).toEqual(['segment-0000000000000001.jsonl', 'segment-0000000000000004.jsonl']);
    await outbox.close();
  });

  it('reads a backlog of 100,000 events through several segments with little memory, and prunes what all sinks passed', async () => {
    const dir = await folder();
    const outbox = await FsOutbox.open(dir);
    const reader = await outbox.reader('sink');
    const padding = 'x'.repeat(200);
    for (let batch = 0; batch < 100; batch++) await outbox.append(Array.from({ length: 1000 }, (_item, index) => ({ id: `${batch}-${index}`, padding })));
    expect(await reader.pending()).toBe(100_000);
    expect((await outbox.segments()).length).toBeGreaterThan(2);
    global.gc?.();
    const before = process.memoryUsage().rss;
    let count = 0;
    let peak = before;
    for (let record = await reader.next(); record; record = await reader.next()) {
      count++;
      await reader.commit(record);
      if (count % 10_000 === 0) {
        peak = Math.max(peak, process.memoryUsage().rss);
        await outbox.prune([reader]);
      }
    }
    expect(count).toBe(100_000);
    await reader.save();
    await outbox.prune([reader]);
    // The backlog is ~25 MiB on disk; reading it costs a read buffer, not the backlog.
    expect(peak - before).toBeLessThan(12 * 1024 * 1024);
    expect((await outbox.segments()).length).toBe(1);
    await outbox.close();
  }, 120_000);
});
