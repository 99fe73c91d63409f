/** Reading a segment's tail: where its last complete line ends, so a torn last line can be cut at open. */
import { open } from 'node:fs/promises';

const READ_CHUNK = 64 * 1024;

/**
 * Where the last complete line of `file` ends (just after its newline), and that line: read backwards
 * from the end in 64 KiB steps, so opening a full 8 MiB segment costs a line, not the segment.
 */
export async function lastCompleteLine(file: string): Promise<{ end: number; lastLine: string | undefined }> {
  const handle = await open(file, 'r');
  try {
    let tailStart = (await handle.stat()).size;
    let tail = Buffer.alloc(0);
    const readBack = async (): Promise<number> => {
      const length = Math.min(READ_CHUNK, tailStart);
      tailStart -= length;
      const chunk = Buffer.alloc(length);
      await handle.read(chunk, 0, length, tailStart);
      tail = Buffer.concat([chunk, tail]);
      return length;
    };
    let newline = -1;
    while (newline < 0 && tailStart > 0) {
      await readBack();
      newline = tail.lastIndexOf(10);
    }
    if (newline < 0) return { end: 0, lastLine: undefined };
    const end = tailStart + newline + 1;
    // Where that line starts: after the newline before it, or at the file's start.
    let before = newline > 0 ? tail.lastIndexOf(10, newline - 1) : -1;
    while (before < 0 && tailStart > 0) {
      newline += await readBack();
      before = tail.lastIndexOf(10, newline - 1);
    }
    return { end, lastLine: newline > before + 1 ? tail.subarray(before + 1, newline).toString('utf8') : undefined };
  } finally {
    await handle.close();
  }
}
