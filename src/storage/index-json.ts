/**
 * index.json's bytes in pieces: exactly what `JSON.stringify(index)` writes, a few hundred manifest
 * entries at a time. A repository with thousands of tags has an index of megabytes, rewritten at
 * every push: as one string it lands in V8's large-object space at each push and stays there until
 * a full collection, which is what made the resident memory of a 5,000-tag repository climb. Pieces
 * of tens of KiB die young instead.
 */
import type { OciIndexFile } from './store.js';

const ENTRIES_PER_PIECE = 200;

export function* indexJsonPieces(index: OciIndexFile): Generator<string> {
  yield '{';
  let first = true;
  for (const [key, value] of Object.entries(index)) {
    // JSON.stringify leaves out properties it cannot represent.
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') continue;
    yield `${first ? '' : ','}${JSON.stringify(key)}:`;
    first = false;
    if (key !== 'manifests' || !Array.isArray(value)) {
      yield JSON.stringify(value);
      continue;
    }
    yield '[';
    for (let i = 0; i < value.length; i += ENTRIES_PER_PIECE) {
      yield (i === 0 ? '' : ',') + (value.slice(i, i + ENTRIES_PER_PIECE) as unknown[]).map((entry) => JSON.stringify(entry) ?? 'null').join(',');
    }
    yield ']';
  }
  yield '}';
}
