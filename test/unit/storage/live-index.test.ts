/**
 * LiveIndex (src/storage/live-index.ts): the deltas it journals replay to the same index, also over
 * an index.json that already holds some or all of them (a crash between writing index.json and
 * removing the journal), and a change that fails half way is undone.
 */
import { describe, expect, it } from 'vitest';
import { LiveIndex, type IndexDelta } from '../../../src/storage/live-index.js';
import { REF_NAME, type OciIndexFile } from '../../../src/storage/store.js';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const entry = (n: number, tag?: string) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digest(n), size: n, ...(tag ? { annotations: { [REF_NAME]: tag } } : {}) });
const start: OciIndexFile = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [entry(1, 'a'), entry(2), entry(3, 'b')], annotations: { kept: 'yes' } };

/** A pseudo-random run of pushes, tag moves and deletes, journaled one delta per step. */
function run(steps: number): { live: LiveIndex; deltas: IndexDelta[] } {
  const live = new LiveIndex(start);
  const deltas: IndexDelta[] = [];
  let seed = 7;
  const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let step = 0; step < steps; step++) {
    const tag = `t${random(6)}`;
    const kind = random(3);
    if (kind === 0) live.put(entry(10 + random(8), tag));
    else if (kind === 1) {
      const current = live.tagged(tag);
      if (current) {
        live.remove(current);
        if (!live.holds(current.digest)) live.put({ ...current, annotations: {} });
      }
    } else if (!live.holds(digest(10 + step))) live.put(entry(10 + step));
    const delta = live.takeDelta();
    if (delta) deltas.push(delta);
  }
  return { live, deltas };
}

describe('LiveIndex', () => {
  it('replays its deltas to the same index, over the start or over any later fold', () => {
    const { live, deltas } = run(200);
    const final = live.snapshot();
    expect(final.annotations).toEqual({ kept: 'yes' });
    for (const foldedAt of [0, 1, 57, 150, deltas.length]) {
      const folded = new LiveIndex(start);
      for (const delta of deltas.slice(0, foldedAt)) folded.apply(delta);
      // index.json as folded then, with the whole journal replayed over it.
      const replayed = new LiveIndex(folded.snapshot());
      for (const delta of deltas) replayed.apply(delta);
      expect(replayed.snapshot(), `folded after ${foldedAt} deltas`).toEqual(final);
    }
  });

  it('undoes the edits of a change that fails half way, and keeps one entry per tag', () => {
    const live = new LiveIndex({ ...start, manifests: [...start.manifests, entry(4, 'a')] });
    expect(live.snapshot().manifests.map((item) => item.digest)).toEqual([digest(2), digest(3), digest(4)]);
    const before = live.snapshot();
    live.begin();
    live.put(entry(9, 'b'));
    live.remove(entry(2));
    live.rollBack();
    expect(live.tagged('b')).toEqual(entry(3, 'b'));
    expect(live.holds(digest(2))).toBe(true);
    expect(live.holds(digest(9))).toBe(false);
    expect([...live.snapshot().manifests].sort((x, y) => x.size - y.size)).toEqual([...before.manifests].sort((x, y) => x.size - y.size));
  });
});
