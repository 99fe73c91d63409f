/**
 * The durable outbox on the local disk: events are appended here, synced, before the push that
 * caused them is acknowledged; one cursor per sink says how far that sink has got. Of the backlog
 * only the newest MiB is held in memory (what a sink that keeps up reads next); a sink's reader keeps
 * a file position and a 64 KiB read buffer.
 *
 * ```
 * <rootDirectory>/_berth/events/           (`_berth` is no valid repository name)
 *   segment-<first seq, 16 digits>.jsonl   one record a line: {"seq":N,"at":<ms>,"event":{CloudEvent JSON}}
 *   cursor-<sink key>.json                 {"seq","segment","offset"}: the sink's next record starts there
 * ```
 * Appends are group-committed (the pushes waiting meanwhile share one synced write), so
 * the cost per push is bounded and does not grow with the backlog. A segment is closed at 8 MiB and
 * removed once every sink's cursor is past it. A torn last line (a crash mid-write, before the push
 * was answered) is cut away at open, which reads the newest segment's tail only. A cursor is written at most every 250 ms, without fsync: a lost
 * update means a redelivery, never a loss (at least once; receivers drop duplicates by `id`).
 */
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, truncate, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Waiters } from '../coordination/waiters.js';
import { fsyncFolder } from '../storage/files.js';
import type { Outbox, OutboxReader, OutboxRecord } from './outbox-api.js';
import { FsOutboxReader, type Cursor } from './outbox-reader.js';
import { lastCompleteLine } from './segment-tail.js';

export type { OutboxRecord } from './outbox-api.js';

const SEGMENT_LIMIT = 8 * 1024 * 1024;
/**
 * The newest synced bytes are also kept in memory, up to this much, so a sink that keeps up reads
 * what was just appended without opening the segment (an open, a read and a close per event were
 * most of what delivery cost a push); a sink behind reads the file as before.
 */
const RECENT_LIMIT = 1024 * 1024;
const segmentName = (first: number) => `segment-${String(first).padStart(16, '0')}.jsonl`;
const isSegment = (name: string) => /^segment-\d{16}\.jsonl$/.test(name);

export class FsOutbox implements Outbox {
  private handle: FileHandle | undefined;
  private segment = '';
  private size = 0;
  /** The seq of the newest record written (0 when none ever was). */
  private last = 0;
  /** The seq given to the newest record appended, written or not (a failed batch's are not reused). */
  private numbered = 0;
  private waiting: Array<{ line: string; seq: number; done: (error?: Error) => void }> = [];
  private flushing: Promise<void> | undefined;
  private readonly appended = new Waiters();
  /** The newest synced bytes of the current segment, in the order written: `at` is each chunk's offset. */
  private recent: Array<{ at: number; data: Buffer }> = [];
  private recentBytes = 0;

  private constructor(readonly folder: string) {}

  /** Opens (or creates) the outbox in `folder`, cutting a torn last line, and finds the last seq. */
  static async open(folder: string): Promise<FsOutbox> {
    const outbox = new FsOutbox(folder);
    await mkdir(folder, { recursive: true, mode: 0o700 });
    const segments = await outbox.segments();
    const newest = segments.at(-1);
    if (newest) {
      const file = path.join(folder, newest);
      const { end, lastLine } = await lastCompleteLine(file);
      if (end < (await stat(file)).size) await truncate(file, end);
      outbox.last = lastLine ? (JSON.parse(lastLine) as OutboxRecord).seq : Number(newest.slice(8, 24)) - 1;
      outbox.numbered = outbox.last;
      outbox.segment = newest;
      outbox.size = end;
    }
    return outbox;
  }

  /**
   * How far a reader may read `segment`: the newest segment only up to what has been fsynced (a
   * power loss can cut what was written but not synced, and a cursor must never point past the end).
   */
  readableEnd(segment: string): number {
    return segment === this.segment ? this.size : Number.POSITIVE_INFINITY;
  }

  /** The segment being appended to ('' before the first append): no segment is newer. */
  get newestSegment(): string {
    return this.segment;
  }

  /** The seq of the newest record on disk (what is pending counts from it: a failed batch's records are none). */
  get lastSeq(): number {
    return this.last;
  }

  /** Segment files, oldest first. */
  async segments(): Promise<string[]> {
    return (await readdir(this.folder)).filter(isSegment).sort();
  }

  /**
   * Appends events as consecutive records; resolves once they are on disk (O_DSYNC). Callers
   * append in the order they want delivery (one repository's writes come in lock order).
   */
  append(events: Array<Record<string, unknown>>): Promise<void> {
    const at = Date.now();
    const lines = events.map((event) => JSON.stringify({ seq: ++this.numbered, at, event } satisfies OutboxRecord) + '\n').join('');
    const seq = this.numbered;
    const written = new Promise<void>((resolve, reject) => this.waiting.push({ line: lines, seq, done: (error) => (error ? reject(error) : resolve()) }));
    this.flushing ??= this.flush();
    return written;
  }

  private async flush(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting;
        this.waiting = [];
        const data = Buffer.from(batch.map((item) => item.line).join(''));
        try {
          await this.writeOut(data, batch[0]!.line);
          this.last = batch.at(-1)!.seq;
          for (const item of batch) item.done();
        } catch (error) {
          for (const item of batch) item.done(error as Error);
        }
        this.appended.wakeAll();
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async writeOut(data: Buffer, firstLine: string): Promise<void> {
    if (this.handle && this.size >= SEGMENT_LIMIT) {
      // Cleared before the close, so a failure from here on leaves no closed handle behind: the next append opens again.
      const full = this.handle;
      this.handle = undefined;
      await full.close();
    }
    if (!this.handle) await this.openSegment(firstLine);
    const handle = this.handle!;
    const before = this.size;
    try {
      // A write can be short (a file-size limit, a disk nearly full): the rest is written until done or
      // refused, else an acknowledged push would have a cut record and the next batch would join its line.
      for (let written = 0; written < data.length;) {
        const { bytesWritten } = await handle.write(data, written, data.length - written);
        if (bytesWritten <= 0) throw new Error(`events outbox: a write to ${this.segment} stored nothing`);
        written += bytesWritten;
      }
    } catch (error) {
      // Cut what part of the batch got in, so the segment stays whole lines (its pushes get the error).
      await handle.truncate(before).catch(async () => {
        // Cannot cut now: drop the handle, the next append reopens and cuts (see openSegment).
        this.handle = undefined;
        await handle.close().catch(() => undefined);
      });
      throw error;
    }
    this.remember(data);
    this.size += data.length;
  }

  /** Opens the segment to append to: the current one again, or a new one named for the batch's first seq. */
  private async openSegment(firstLine: string): Promise<void> {
    // O_DSYNC: each write returns once its data is on disk, one call where a write and an fdatasync were two.
    const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC;
    if (this.segment && this.size < SEGMENT_LIMIT) {
      const handle = await open(path.join(this.folder, this.segment), flags, 0o600);
      try {
        // A batch that failed and could not be cut then: what is past the last whole line goes now.
        if ((await handle.stat()).size > this.size) await handle.truncate(this.size);
      } catch (error) {
        await handle.close().catch(() => undefined);
        throw error;
      }
      this.handle = handle;
    } else {
      const first = (JSON.parse(firstLine.slice(0, firstLine.indexOf('\n'))) as OutboxRecord).seq;
      const name = segmentName(first);
      const handle = await open(path.join(this.folder, name), flags, 0o600);
      try {
        // The new file's name must be on disk too: a power cut could otherwise lose a whole acknowledged segment.
        await fsyncFolder(this.folder);
      } catch (error) {
        await handle.close().catch(() => undefined);
        throw error;
      }
      // Only now: a failed open leaves the state as it was, and the next append tries a new segment again.
      this.handle = handle;
      this.segment = name;
      this.size = 0;
    }
    this.recent = [];
    this.recentBytes = 0;
  }

  private remember(data: Buffer): void {
    this.recent.push({ at: this.size, data });
    this.recentBytes += data.length;
    while (this.recentBytes > RECENT_LIMIT && this.recent.length > 1) this.recentBytes -= this.recent.shift()!.data.length;
  }

  /**
   * Up to `length` synced bytes of `segment` from offset `from`, when they are still in memory
   * (the newest ones); undefined when the file must be read.
   */
  recentBytesOf(segment: string, from: number, length: number): Buffer | undefined {
    if (segment !== this.segment || this.recent.length === 0 || from < this.recent[0]!.at || from >= this.size) return undefined;
    const parts: Buffer[] = [];
    let position = from;
    let want = length;
    // The chunk holding `from`: by bisection, as a reader that keeps up asks for the newest one.
    let low = 0;
    for (let high = this.recent.length - 1; low < high;) {
      const middle = (low + high + 1) >> 1;
      if (this.recent[middle]!.at <= from) low = middle;
      else high = middle - 1;
    }
    for (const chunk of this.recent.slice(low)) {
      if (want <= 0) break;
      const part = chunk.data.subarray(position - chunk.at, Math.min(chunk.data.length, position - chunk.at + want));
      parts.push(part);
      position += part.length;
      want -= part.length;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  /** Wakes every `waitForAppend` now (at shutdown). */
  wakeAll(): void {
    this.appended.wakeAll();
  }

  /** Resolves at the next append, or after `ms`. */
  waitForAppend(ms: number): Promise<void> {
    return this.appended.wait(ms);
  }

  /** One process: it always delivers. */
  exclusive<T>(_key: string, work: (held: () => boolean) => Promise<T>): Promise<T | undefined> {
    return work(() => true);
  }

  /** A reader for one sink, from its saved cursor; a sink never seen starts after the newest record. */
  async reader(key: string): Promise<FsOutboxReader> {
    const file = path.join(this.folder, `cursor-${key}.json`);
    let cursor: Cursor | undefined;
    try {
      cursor = JSON.parse(await readFile(file, 'utf8')) as Cursor;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') cursor = { seq: 0, segment: '', offset: 0 }; // torn: start over, redeliver
    }
    if (!cursor) {
      cursor = { seq: this.last, segment: this.segment, offset: this.size };
      await writeFile(file, JSON.stringify(cursor), { mode: 0o600, flush: true });
    }
    return new FsOutboxReader(this, file, cursor);
  }

  /** Removes segments that every reader's saved cursor has passed (a crash resumes from those). */
  async prune(readers: OutboxReader[]): Promise<void> {
    const oldest = readers.map((reader) => (reader as FsOutboxReader).savedPosition.segment).sort()[0];
    if (!oldest) return;
    for (const name of await this.segments()) if (name < oldest && name !== this.segment) await unlink(path.join(this.folder, name)).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.flushing;
    await this.handle?.close();
    this.handle = undefined;
  }
}
