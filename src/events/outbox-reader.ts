/**
 * One sink's reader of the disk outbox (outbox.ts): a file position and a 64 KiB read buffer (what
 * was just appended comes from the outbox's memory of its newest bytes, not the file), and a cursor
 * file written at most every 250 ms.
 */
import { open, rename, stat, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { OutboxReader, OutboxRecord } from './outbox-api.js';

/** Where a sink's next record starts: after `seq`, at `offset` in `segment`. */
export interface Cursor {
  seq: number;
  segment: string;
  offset: number;
}

/** What a reader needs of the outbox it reads (FsOutbox, outbox.ts). */
export interface Segments {
  readonly folder: string;
  /** Segment files, oldest first. */
  segments(): Promise<string[]>;
  /** The segment being appended to ('' before the first append). */
  readonly newestSegment: string;
  /** The seq of the newest record on disk. */
  readonly lastSeq: number;
  /** How far `segment` is synced (what may be read). */
  readableEnd(segment: string): number;
  /** Up to `length` bytes of `segment` from `from`, when still held in memory. */
  recentBytesOf(segment: string, from: number, length: number): Buffer | undefined;
}

const READ_CHUNK = 64 * 1024;
const SAVE_EVERY_MS = 250;

/** One sink's position in the outbox: `next()` reads the following record, `commit()` moves past it. */
export class FsOutboxReader implements OutboxReader {
  private buffer: Buffer = Buffer.alloc(0);
  /** Position of `buffer`'s start in the current segment. */
  private bufferAt: number;
  private pendingLength = 0;
  private savedAt = 0;
  private savedSeq: number;
  private saved: Cursor;

  constructor(
    private readonly outbox: Segments,
    private readonly file: string,
    private cursor: Cursor,
  ) {
    this.bufferAt = cursor.offset;
    this.savedSeq = cursor.seq;
    this.saved = cursor;
  }

  /** The position in the cursor file: what pruning must keep (a crash resumes from there). */
  get savedPosition(): Readonly<Cursor> {
    return this.saved;
  }

  get position(): Readonly<Cursor> {
    return this.cursor;
  }

  /** Records after this cursor still to deliver. */
  pending(): Promise<number> {
    return Promise.resolve(Math.max(0, this.outbox.lastSeq - this.cursor.seq));
  }

  /** Nothing to do: this process is the only one that moves the cursor. */
  async resume(): Promise<void> {}

  /** The next record, or undefined when the sink has caught up. */
  async next(): Promise<OutboxRecord | undefined> {
    for (;;) {
      if (!this.cursor.segment) {
        const first = (await this.outbox.segments())[0];
        if (!first) return undefined;
        this.moveTo(first);
      }
      const newline = this.buffer.indexOf(10);
      if (newline >= 0) {
        let record: OutboxRecord;
        try {
          record = JSON.parse(this.buffer.subarray(0, newline).toString('utf8')) as OutboxRecord;
        } catch {
          record = { seq: -1, at: 0, event: {} }; // a damaged line (edited by hand?): passed over
        }
        this.pendingLength = newline + 1;
        if (record.seq <= this.cursor.seq) {
          this.skip();
          continue;
        }
        return record;
      }
      const read = await this.readMore();
      if (read > 0) continue;
      // Caught up with the segment being appended to: nothing newer exists, no need to look.
      if (this.cursor.segment === this.outbox.newestSegment) return undefined;
      // The end of this segment: move on if a newer one exists, else we are caught up.
      const later = (await this.outbox.segments()).find((name) => name > this.cursor.segment);
      if (!later || (await this.hasMore())) return undefined;
      this.moveTo(later);
    }
  }

  /**
   * Marks the record `next()` returned as done (delivered or dropped). The cursor file is written at
   * most every 250 ms and by `save()` (when caught up, at close): a crash in between means a few
   * redeliveries, never a loss, and a long backlog does not cost a file write per event.
   */
  async commit(record: OutboxRecord): Promise<void> {
    this.skip();
    this.cursor = { ...this.cursor, seq: record.seq };
    if (Date.now() - this.savedAt >= SAVE_EVERY_MS) await this.save();
  }

  /** Writes the cursor file now (no-op when it holds the current position). */
  async save(): Promise<void> {
    if (this.savedSeq === this.cursor.seq) return;
    const cursor = this.cursor;
    const temporary = `${this.file}.tmp`;
    await writeFile(temporary, JSON.stringify(cursor), { mode: 0o600 });
    await rename(temporary, this.file);
    this.savedSeq = cursor.seq;
    this.saved = cursor;
    this.savedAt = Date.now();
  }

  private skip(): void {
    this.buffer = this.buffer.subarray(this.pendingLength);
    this.bufferAt += this.pendingLength;
    this.cursor = { ...this.cursor, offset: this.bufferAt };
    this.pendingLength = 0;
  }

  private moveTo(segment: string): void {
    this.cursor = { ...this.cursor, segment, offset: 0 };
    this.buffer = Buffer.alloc(0);
    this.bufferAt = 0;
  }

  private async hasMore(): Promise<boolean> {
    const size = await stat(path.join(this.outbox.folder, this.cursor.segment)).then(
      (info) => info.size,
      () => 0,
    );
    return size > this.bufferAt + this.buffer.length;
  }

  private async readMore(): Promise<number> {
    // Nothing synced beyond what is buffered: no need to open the file (the caught-up case).
    if (this.outbox.readableEnd(this.cursor.segment) <= this.bufferAt + this.buffer.length) return 0;
    const recent = this.outbox.recentBytesOf(this.cursor.segment, this.bufferAt + this.buffer.length, READ_CHUNK);
    if (recent) {
      this.buffer = this.buffer.length === 0 ? recent : Buffer.concat([this.buffer, recent]);
      return recent.length;
    }
    let handle: FileHandle;
    try {
      handle = await open(path.join(this.outbox.folder, this.cursor.segment), 'r');
    } catch {
      // Pruned or never written: go to the oldest segment there is.
      const first = (await this.outbox.segments()).find((name) => name > this.cursor.segment);
      if (first) this.moveTo(first);
      return first ? 1 : 0;
    }
    try {
      const from = this.bufferAt + this.buffer.length;
      const length = Math.min(READ_CHUNK, this.outbox.readableEnd(this.cursor.segment) - from);
      if (length <= 0) return 0;
      const chunk = Buffer.alloc(length);
      const { bytesRead } = await handle.read(chunk, 0, length, from);
      if (bytesRead > 0) this.buffer = Buffer.concat([this.buffer, chunk.subarray(0, bytesRead)]);
      return bytesRead;
    } finally {
      await handle.close();
    }
  }
}
