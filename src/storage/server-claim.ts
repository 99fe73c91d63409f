/**
 * Marks a storage root as served by a running process (`<root>/_berth/server.json`), so that
 * `berth gc` from another process does not sweep blobs while a live server takes pushes: the
 * repository locks that make collection safe exist only inside one process.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { ensureFolder, isNotFound, writeFileAtomic } from './files.js';
import { Layout } from './layout.js';

function claimFile(root: string): string {
  return new Layout(root).stateDocument('server');
}

export async function claimStorage(root: string): Promise<() => Promise<void>> {
  const file = claimFile(root);
  await ensureFolder(path.dirname(file));
  await writeFileAtomic(file, JSON.stringify({ pid: process.pid, started: new Date().toISOString() }));
  return () => rm(file, { force: true });
}

/** The pid of a live process serving `root`, if any (a stale claim from a crash is ignored). */
export async function servingProcess(root: string): Promise<number | undefined> {
  let claim: { pid?: unknown };
  try {
    claim = JSON.parse(await readFile(claimFile(root), 'utf8')) as { pid?: unknown };
  } catch (error) {
    if (isNotFound(error) || error instanceof SyntaxError) return undefined;
    throw error;
  }
  if (typeof claim.pid !== 'number' || claim.pid === process.pid) return undefined;
  try {
    process.kill(claim.pid, 0);
    return claim.pid;
  } catch {
    return undefined;
  }
}
