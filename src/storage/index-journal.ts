/**
 * The index journal of the filesystem store: what changed in a repository's index.json since it
 * was last written whole, one JSON line per group of changes (`{"repository","remove","add"}`, see
 * `IndexDelta`), in `_berth/index-journal/<sha256 of the name>.jsonl`. A push appends a line and
 * fdatasyncs it before its answer, so its cost does not grow with the repository (rewriting a
 * 10,000-tag index.json is 2 MB per push); the store folds the journal into index.json now and
 * then (fs-store.ts says when) and then removes it.
 *
 * Crash safety: a line counts only when whole (it ends in '\n' and parses); reading stops at the
 * first that is not, which can only be the last one written, and was never acknowledged (answers
 * wait for the fdatasync, which covers every earlier line too). Folding writes index.json (temp
 * file, fsync, rename, fsync folder) before it removes the journal, and replaying deltas is
 * idempotent, so a crash between the two only replays what index.json already holds.
 */
import { open, readFile, readdir, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Descriptor } from '../oci/manifest.js';
import { ensureFolder, fsyncFolder, isNotFound } from './files.js';
import type { IndexDelta } from './live-index.js';

interface Line extends IndexDelta {
  repository: string;
}

/**
 * The whole lines of a journal file, how many bytes they take, and the file's size (which is more
 * when it ends in a torn line; 0 when there is no file).
 */
export async function readJournal(file: string): Promise<{ deltas: IndexDelta[]; bytes: number; size: number; repository: string | undefined }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (isNotFound(error)) return { deltas: [], bytes: 0, size: 0, repository: undefined };
    throw error;
  }
  const deltas: IndexDelta[] = [];
  let repository: string | undefined;
  let at = 0;
  for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', at)) {
    const line = parseLine(text.slice(at, end));
    if (!line || (repository !== undefined && line.repository !== repository)) break;
    repository = line.repository;
    deltas.push({ remove: line.remove, add: line.add });
    at = end + 1;
  }
  return { deltas, bytes: Buffer.byteLength(text.slice(0, at)), size: Buffer.byteLength(text), repository };
}

function parseLine(text: string): Line | undefined {
  let line: unknown;
  try {
    line = JSON.parse(text);
  } catch {
    return undefined;
  }
  const { repository, remove, add } = (line ?? {}) as Partial<Line>;
  if (typeof repository !== 'string' || !Array.isArray(remove) || !Array.isArray(add)) return undefined;
  if (!remove.every((key) => typeof key === 'string') || !add.every(isDescriptor)) return undefined;
  return { repository, remove, add };
}

function isDescriptor(value: unknown): value is Descriptor {
  const entry = value as Partial<Descriptor> | null;
  return typeof entry === 'object' && entry !== null && typeof entry.digest === 'string' && typeof entry.mediaType === 'string' && typeof entry.size === 'number';
}

/** Every journal file in `folder` (the store folds them at start-up and in `berth gc`). */
export async function listJournals(folder: string): Promise<string[]> {
  try {
    return (await readdir(folder)).filter((entry) => entry.endsWith('.jsonl')).map((entry) => path.join(folder, entry));
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

/** Appends lines to one repository's journal, keeping the file open between appends. */
export class JournalWriter {
  private handle: FileHandle | undefined;

  constructor(
    private readonly file: string,
    private readonly repository: string,
  ) {}

  /** Appends one line and waits for it to be on disk; returns its size in bytes. */
  async append(delta: IndexDelta): Promise<number> {
    const bytes = Buffer.from(`${JSON.stringify({ repository: this.repository, remove: delta.remove, add: delta.add })}\n`);
    const handle = this.handle ?? (await this.open());
    const { bytesWritten } = await handle.write(bytes);
    // A short write is a full disk that said so late; the torn line is never acknowledged.
    if (bytesWritten !== bytes.length) throw Object.assign(new Error(`short write: ${bytesWritten} of ${bytes.length} bytes`), { code: 'ENOSPC' });
    await handle.datasync();
    return bytes.length;
  }

  private async open(): Promise<FileHandle> {
    const folder = path.dirname(this.file);
    await ensureFolder(folder);
    this.handle = await open(this.file, 'a', 0o600);
    // A new file must survive a crash with its first line: its name goes to disk too.
    await fsyncFolder(folder);
    return this.handle;
  }

  /** Closes and removes the file (after a fold: index.json holds all of it). */
  async remove(): Promise<void> {
    await this.close();
    await unlink(this.file).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }
}
