/**
 * Twenty clients push twenty different images into ONE repository at the same time, each with the
 * spec's chunked flow (POST a session, PATCH chunks with Content-Range, PUT ?digest=, PUT the
 * manifest under its own tag). All images share a base layer, so the same blob is also uploaded
 * twenty times at once. Afterwards nothing may be lost or mixed up: every tag lists, every manifest
 * and blob reads back byte for byte, and the repository's index.json on disk names all twenty tags.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { pushImage } from '../helpers/registry-api.js';
import { expectBlob, expectManifest } from '../helpers/registry-assertions.js';
import { REF_NAME, buildImage, buildLayer, type Image } from '../helpers/oci-layout.js';
import { indexesSettled } from '../helpers/stored-files.js';

const REPO = 'e2e/concurrent';
const CLIENTS = 20;
/** Small chunks, so each push is many PATCH requests interleaved with the other clients'. */
const CHUNK_BYTES = 8 * 1024;

let berth: TestServer;

beforeAll(async () => {
  berth = await startBerth();
});

afterAll(async () => {
  await berth?.close();
});

const tagOf = (i: number) => `client-${String(i).padStart(2, '0')}`;

describe('concurrent pushes into one repository', () => {
  it(`keeps all ${CLIENTS} images and tags when ${CLIENTS} clients push chunked uploads at once`, async () => {
    const base = await buildLayer('shared-base', 3, 32 * 1024);
    const images: Image[] = await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) => buildImage({ layers: 2, filesPerLayer: 2, maxFileBytes: 24 * 1024, baseLayers: [base], label: `concurrent-${i}` })),
    );

    // pushImage fails unless the registry answers each manifest's own digest.
    await Promise.all(images.map((image, i) => pushImage(berth.url, REPO, tagOf(i), { image, chunkSize: CHUNK_BYTES })));

    const expectedTags = images.map((_, i) => tagOf(i)).sort();
    const listed = await fetch(`${berth.url}/v2/${REPO}/tags/list`);
    expect(listed.status).toBe(200);
    expect(await listed.json()).toEqual({ name: REPO, tags: expectedTags });

    for (const [i, image] of images.entries()) {
      await expectManifest(berth.url, REPO, tagOf(i), image.manifest);
      for (const item of [image.config, ...image.layers]) await expectBlob(berth.url, REPO, item.digest, item.bytes);
    }

    // zot's layout: one index.json per repository, a tag being the ref.name annotation of an entry.
    await indexesSettled(berth.root); // once Berth has folded its index journal
    const index = JSON.parse(await readFile(path.join(berth.root, ...REPO.split('/'), 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string; mediaType: string; size: number; annotations?: Record<string, string> }>;
    };
    const tagged = index.manifests.filter((entry) => entry.annotations?.[REF_NAME] !== undefined);
    expect(tagged).toHaveLength(CLIENTS);
    expect(Object.fromEntries(tagged.map((entry) => [entry.annotations![REF_NAME], entry.digest]))).toEqual(Object.fromEntries(images.map((image, i) => [tagOf(i), image.manifest.digest])));
    for (const entry of tagged) {
      const image = images.find((candidate) => candidate.manifest.digest === entry.digest)!;
      expect(entry).toMatchObject({ mediaType: image.manifest.mediaType, size: image.manifest.size });
    }

    // Every session was committed: no upload is left behind in the repository's .uploads folder.
    expect(await readdir(path.join(berth.root, ...REPO.split('/'), '.uploads'))).toEqual([]);
  });
});
