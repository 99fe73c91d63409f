/** index.json written in pieces is byte for byte what JSON.stringify writes (src/storage/index-json.ts). */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../../src/storage/files.js';
import { indexJsonPieces } from '../../../src/storage/index-json.js';
import type { OciIndexFile } from '../../../src/storage/store.js';
import { TempDirs } from '../../helpers/temp-dirs.js';

const dirs = new TempDirs();
afterAll(() => dirs.removeAll());

const entry = (i: number) => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${i.toString(16).padStart(64, '0')}`,
  size: 500 + i,
  annotations: { 'org.opencontainers.image.ref.name': `v${i}`, 'quote"and\\slash': 'é ✓ \u2028' },
});

describe('indexJsonPieces', () => {
  const cases: Array<[string, OciIndexFile]> = [
    ['an empty index', { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }],
    ['one entry', { schemaVersion: 2, manifests: [entry(1)] }],
    ['5,000 entries, annotations before manifests', { schemaVersion: 2, annotations: { a: 'b' }, manifests: Array.from({ length: 5000 }, (_, i) => entry(i)) }],
    ['an undefined key', { schemaVersion: 2, mediaType: undefined, manifests: [entry(2)], extra: { nested: [1, null, 'x'] } }],
  ];
  for (const [name, index] of cases) {
    it(`matches JSON.stringify for ${name}`, () => expect([...indexJsonPieces(index)].join('')).toBe(JSON.stringify(index)));
  }

  it('cuts a large index into pieces below V8 large-object size, and writes them whole', async () => {
    const index: OciIndexFile = { schemaVersion: 2, manifests: Array.from({ length: 5000 }, (_, i) => entry(i)) };
    const pieces = [...indexJsonPieces(index)];
    expect(pieces.length).toBeGreaterThan(20);
    for (const piece of pieces) expect(piece.length).toBeLessThan(128 * 1024);
    const file = path.join(await dirs.make('index-json'), 'index.json');
    await writeFileAtomic(file, indexJsonPieces(index));
    expect(await readFile(file, 'utf8')).toBe(JSON.stringify(index));
  });
});
