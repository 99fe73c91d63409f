/**
 * The filesystem store's index journal and group commit (src/storage/fs-indexes.ts), through real
 * servers: a push into a big repository appends one journal line instead of rewriting index.json;
 * index.json is brought up to date when the repository is idle, at shutdown, at start-up and by
 * `berth gc`, and is then the index zot writes; concurrent tag PUTs and DELETEs all land; every
 * tag PUT acknowledged by 8 concurrent writers survives `kill -9`; a torn last journal line (a
 * crash in the middle of an append) is ignored and never written after.
 */
import { appendFile, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsStore } from '../../src/storage/fs-store.js';
import { IDLE_FOLD_MS } from '../../src/storage/fs-indexes.js';
import { Layout } from '../../src/storage/layout.js';
import { REF_NAME } from '../../src/storage/store.js';
import { killAllBerthProcesses, runBerthCommand, startBerthProcess, writeConfig } from '../helpers/berth-process.js';
import { buildImage, type ContentBlob, type Image } from '../helpers/oci-layout.js';
import { OCI_INDEX, sha256 } from '../helpers/oci.js';
import { pushImage } from '../helpers/registry-api.js';
import { startBerth } from '../helpers/server.js';
import { TempDirs } from '../helpers/temp-dirs.js';

const dirs = new TempDirs();
afterAll(async () => {
  await killAllBerthProcesses();
  await dirs.removeAll();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type IndexFile = { schemaVersion: number; mediaType?: string; manifests: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string> }> };

/** index.json as zot reads it: checked for zot's shape, returned as tag → digest. */
async function zotIndex(root: string, repository: string): Promise<Map<string, string>> {
  const index = JSON.parse(await readFile(path.join(root, repository, 'index.json'), 'utf8')) as IndexFile;
  expect(index.schemaVersion).toBe(2);
  expect(index.mediaType).toBe(OCI_INDEX);
  const tags = new Map<string, string>();
  for (const entry of index.manifests) {
    expect(Object.keys(entry).sort()).toEqual(expect.arrayContaining(['digest', 'mediaType', 'size']));
    expect(entry.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const tag = entry.annotations?.[REF_NAME];
    if (tag === undefined) continue;
    expect(tags.has(tag), `tag ${tag} twice in index.json`).toBe(false);
    tags.set(tag, entry.digest);
  }
  return tags;
}

const journals = async (root: string) => (await readdir(new Layout(root).indexJournals()).catch(() => [])).filter((file) => file.endsWith('.jsonl'));

/** The image's manifest made distinct by an annotation (same config and layers). */
function variant(image: Image, label: string): ContentBlob {
  const bytes = Buffer.from(JSON.stringify({ ...(JSON.parse(image.manifest.bytes.toString('utf8')) as object), annotations: { 'test.label': label } }));
  return { mediaType: image.manifest.mediaType, digest: sha256(bytes), size: bytes.length, bytes };
}

async function put(url: string, repository: string, tag: string, manifest: ContentBlob): Promise<Response> {
  return fetch(`${url}/v2/${repository}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': manifest.mediaType }, body: manifest.bytes });
}

describe('index journal and group commit', () => {
  it('takes a tag into a 2,000-tag repository with one journal line, leaving index.json alone until the repository is idle', { timeout: 60_000 }, async () => {
    const server = await startBerth({ backend: 'fs' });
    try {
      const image = await buildImage({ layers: 1, label: 'big' });
      await pushImage(server.url, 'big/app', 'v0', { image });
      let next = 1;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < 2000) expect((await put(server.url, 'big/app', `v${next++}`, image.manifest)).status).toBe(201);
        }),
      );
      const indexFile = path.join(server.root, 'big/app/index.json');
      const journalFile = new Layout(server.root).indexJournal('big/app');
      // Idle: index.json holds all 2,000 tags and the journal is gone.
      await sleep(IDLE_FOLD_MS + 500);
      expect((await zotIndex(server.root, 'big/app')).size).toBe(2000);
      expect(await journals(server.root)).toEqual([]);

      const before = await stat(indexFile);
      expect((await put(server.url, 'big/app', 'one-more', image.manifest)).status).toBe(201);
      const after = await stat(indexFile);
      expect([after.ino, after.size, after.mtimeMs]).toEqual([before.ino, before.size, before.mtimeMs]);
      const journal = await readFile(journalFile, 'utf8');
      expect(journal.split('\n')).toHaveLength(2); // one line, and the empty rest after its '\n'
      expect(journal.length).toBeLessThan(1000);
      // Served at once, from memory and journal.
      const head = await fetch(`${server.url}/v2/big/app/manifests/one-more`, { method: 'HEAD' });
      expect(head.headers.get('docker-content-digest')).toBe(image.manifest.digest);

      await sleep(IDLE_FOLD_MS + 500);
      expect((await zotIndex(server.root, 'big/app')).get('one-more')).toBe(image.manifest.digest);
      expect(await journals(server.root)).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('lands every one of concurrent tag PUTs and DELETEs, and leaves zot an index.json holding exactly the survivors at shutdown', { timeout: 60_000 }, async () => {
    const root = await dirs.make('journal-put-delete');
    const server = await startBerth({ backend: 'fs', root });
    const kept = new Map<string, string>();
    try {
      const image = await buildImage({ layers: 1, label: 'put-delete' });
      await pushImage(server.url, 'pd/app', 'base', { image });
      kept.set('base', image.manifest.digest);
      await Promise.all(
        Array.from({ length: 8 }, async (_, client) => {
          for (let n = 0; n < 15; n++) {
            const tag = `c${client}-${n}`;
            const manifest = n % 3 === 0 ? variant(image, tag) : image.manifest;
            expect((await put(server.url, 'pd/app', tag, manifest)).status).toBe(201);
            if (n % 2 === 1) {
              // Acknowledged PUT first, then its DELETE: the DELETE must find it.
              expect((await fetch(`${server.url}/v2/pd/app/manifests/${tag}`, { method: 'DELETE' })).status).toBe(202);
            } else {
              kept.set(tag, manifest.digest);
            }
          }
        }),
      );
      const tags = (await (await fetch(`${server.url}/v2/pd/app/tags/list?n=1000`)).json()) as { tags: string[] };
      expect(tags.tags.sort()).toEqual([...kept.keys()].sort());
    } finally {
      await server.close();
    }
    expect(await journals(root)).toEqual([]);
    expect(Object.fromEntries(await zotIndex(root, 'pd/app'))).toEqual(Object.fromEntries(kept));
  });

  it('keeps every tag PUT of 8 concurrent writers acknowledged before kill -9: berth gc and start-up fold the journal into index.json', { timeout: 90_000 }, async () => {
    const root = await dirs.make('journal-kill');
    const repository = 'kill/app';
    const image = await buildImage({ layers: 1, label: 'kill' });
    const acknowledged = new Map<string, string>();
    let counter = 0;

    /** 8 writers push tags (every third a new manifest) until the server is killed under them. */
    const pushUntilKilled = async (url: string, kill: () => Promise<void>) => {
      let stop = false;
      const writers = Array.from({ length: 8 }, async (_, writer) => {
        while (!stop) {
          const tag = `w${writer}-${counter++}`;
          const manifest = counter % 3 === 0 ? variant(image, tag) : image.manifest;
          let response: Response;
          try {
            response = await put(url, repository, tag, manifest);
          } catch {
            return; // killed with this PUT in flight: not acknowledged
          }
          if (response.status !== 201) throw new Error(`PUT ${tag}: HTTP ${response.status} ${await response.text()}`);
          acknowledged.set(tag, manifest.digest);
        }
      });
      const before = acknowledged.size;
      for (let waited = 0; acknowledged.size < before + 100 && waited < 20_000; waited += 10) await sleep(10);
      await sleep(Math.random() * 100);
      await kill();
      stop = true;
      await Promise.all(writers);
    };

    let server = await startBerthProcess(root);
    await pushImage(server.url, repository, 'base', { image });
    acknowledged.set('base', image.manifest.digest);
    await pushUntilKilled(server.url, () => server.kill9());
    // The killed server left its last pushes in the journal; index.json is whole but behind.
    expect(await journals(root)).toHaveLength(1);
    expect((await zotIndex(root, repository)).size).toBeLessThanOrEqual(acknowledged.size);

    const config = await writeConfig(root);
    try {
      const gc = await runBerthCommand('gc', config.file);
      expect(gc.code, gc.stdout + gc.stderr).toBe(0);
    } finally {
      await config.remove();
    }
    expect(await journals(root)).toEqual([]);
    const afterGc = await zotIndex(root, repository);
    for (const [tag, digest] of acknowledged) expect(afterGc.get(tag), tag).toBe(digest);

    server = await startBerthProcess(root);
    await pushUntilKilled(server.url, () => server.kill9());
    expect(await journals(root)).toHaveLength(1);
    server = await startBerthProcess(root);
    // Start-up folded the journal before serving.
    expect(await journals(root)).toEqual([]);
    const afterStart = await zotIndex(root, repository);
    for (const [tag, digest] of acknowledged) expect(afterStart.get(tag), tag).toBe(digest);
    for (const [tag, digest] of acknowledged) {
      const head = await fetch(`${server.url}/v2/${repository}/manifests/${tag}`, { method: 'HEAD' });
      expect([head.status, head.headers.get('docker-content-digest')], tag).toEqual([200, digest]);
    }
    expect(await server.stop()).toBe(0);
  });

  it('ignores a torn last journal line and never appends after it', async () => {
    const root = await dirs.make('journal-torn');
    const entry = (i: number, tag: string) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(Buffer.from(`m${i}`)), size: i, annotations: { [REF_NAME]: tag } });
    const store = new FsStore(root);
    await store.ensureRepository('torn');
    await store.changeIndex('torn', { apply: (index) => index.put(entry(1, 'a')) });
    await store.changeIndex('torn', { apply: (index) => index.put(entry(2, 'b')) });
    // A crash in the middle of the next append (never acknowledged).
    const journal = new Layout(root).indexJournal('torn');
    await appendFile(journal, '{"repository":"torn","remove":["c"],"add":[{"mediaType":"application/vnd.oci');

    const restarted = new FsStore(root);
    const tags = async (store: FsStore) => (await store.readIndex('torn')).manifests.map((item) => item.annotations?.[REF_NAME]);
    expect(await tags(restarted)).toEqual(['a', 'b']);
    // The first change folds (index.json rewritten, torn journal gone) before appending its own line.
    await restarted.changeIndex('torn', { apply: (index) => index.put(entry(3, 'c')) });
    expect(
      (await readFile(journal, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { add: Array<{ digest: string }> }).add[0]!.digest),
    ).toEqual([entry(3, 'c').digest]);
    expect(await tags(new FsStore(root))).toEqual(['a', 'b', 'c']);
    await restarted.close();
    expect([...(await zotIndex(root, 'torn')).keys()]).toEqual(['a', 'b', 'c']);
    expect(await journals(root)).toEqual([]);
  });
});
