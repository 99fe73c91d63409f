/**
 * The clients of one pull-through download (src/sync/blob-fanout.ts), without a server: what a
 * download keeps in memory for clients who have left.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Fanout } from '../../../src/sync/blob-fanout.js';

// A full collection on demand (as `node --expose-gc` gives), to measure what is kept, not garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const MiB = 1024 * 1024;
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('a download fanned out to its clients', () => {
  it('keeps nothing for the clients that left (a client that joins and leaves, again and again, costs no memory until the end)', async () => {
    const stored = new Promise<void>(() => undefined);
    const fanout = new Fanout(200 * MiB, stored, { used: 0, limit: 128 * MiB }, async () => undefined);
    const first = fanout.first();
    first.body.resume();
    fanout.chunk(Buffer.alloc(MiB, 0));
    // Sixty clients join while the beginning is still kept, read along, and leave one after another.
    const joiners = Array.from({ length: 60 }, () => fanout.follow()!);
    for (const joiner of joiners) joiner.body.resume();
    await turn();
    // Each chunk's memory is watched by itself (not the process's, which other test files share).
    const chunks: Array<WeakRef<ArrayBuffer>> = [];
    for (let at = 1; joiners.length > 0; at++) {
      const chunk = Buffer.alloc(MiB, at);
      chunks.push(new WeakRef(chunk.buffer as ArrayBuffer));
      fanout.chunk(chunk);
      joiners.shift()!.body.destroy();
      await turn();
    }
    await turn();
    gc();
    // Past the 32 MiB kept for joiners, only the first client's held chunk stays: not one per client who left.
    expect(chunks.filter((chunk) => chunk.deref() !== undefined).length).toBeLessThan(8);
    first.body.destroy();
  });
});
