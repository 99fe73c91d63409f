/** Durable file operations: every metadata write is temp file → fsync → rename → fsync folder. */
import { randomUUID } from 'node:crypto';
import { open, rename, unlink, mkdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

export const FILE_MODE = 0o600;
export const FOLDER_MODE = 0o700;
/** Piecewise writes gather about this many characters per write(2) (below V8's large-object size). */
const WRITE_BYTES = 64 * 1024;

/** An open file read piece by piece at positions (a blob, an upload session); closing it is the caller's. */
export function positionalReader(handle: FileHandle): { read(buffer: Buffer, position: number): Promise<number>; close(): Promise<void> } {
  return { read: async (buffer, position) => (await handle.read(buffer, 0, buffer.length, position)).bytesRead, close: () => handle.close() };
}

export async function fsyncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `data` to `target` so that a crash leaves either the old or the new file, never a mix.
 * `temp` (on the same file system) is where the bytes wait for the rename; by default a hidden file
 * beside `target`. A crash between the two leaves the temp file behind: repositories pass a path
 * under `.uploads/`, where garbage collection reclaims it.
 */
export async function writeFileAtomic(
  target: string,
  data: Uint8Array | string | Iterable<string>,
  temp = path.join(path.dirname(target), `.${path.basename(target)}.${randomUUID()}.tmp`),
): Promise<void> {
  const folder = path.dirname(target);
  const handle = await open(temp, 'wx', FILE_MODE);
  try {
    if (typeof data === 'string' || data instanceof Uint8Array) await handle.writeFile(data);
    else await writePieces(handle, data);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await fsyncFolder(folder);
}

/** Writes text pieces in writes of about WRITE_BYTES, never holding the whole text. */
async function writePieces(handle: FileHandle, pieces: Iterable<string>): Promise<void> {
  let pending: string[] = [];
  let length = 0;
  for (const piece of pieces) {
    pending.push(piece);
    length += piece.length;
    if (length < WRITE_BYTES) continue;
    await handle.write(pending.join(''));
    pending = [];
    length = 0;
  }
  if (pending.length > 0) await handle.write(pending.join(''));
}

export async function ensureFolder(folder: string): Promise<void> {
  await mkdir(folder, { recursive: true, mode: FOLDER_MODE });
}

export function isNotFound(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
