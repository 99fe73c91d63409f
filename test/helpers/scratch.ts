/**
 * Temporary folders for helpers and tests that have no natural place to remove them (an htpasswd
 * file, a config to be refused): test/setup/scratch-cleanup.ts removes them after each test file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const made: string[] = [];

export async function scratchDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `berth-${prefix}-`));
  made.push(dir);
  return dir;
}

export async function removeScratchDirs(): Promise<void> {
  const dirs = made.splice(0);
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
}
