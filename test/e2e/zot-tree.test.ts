/**
 * Berth serving a storage root that zot wrote (built by test/helpers/zot-tree.ts from zot's layout,
 * not by running zot): the catalog shows exactly the repositories; skopeo pulls every image by tag
 * and by digest, byte for byte, including the children of a multi-arch index and an untagged image;
 * the referrers API finds an SBOM. Then skopeo pushes a new tag into an existing repository (the
 * variant of index.json without a top-level mediaType) and a new repository, and zot's rules must
 * still hold: index.json entries as zot writes them, blobs at blobs/sha256/<hex>, oci-layout
 * untouched, a blob shared between repositories one hard-linked file, and zot's own files
 * (cache.db, meta.db, _sessions, _trivy) byte for byte as they were — also after garbage
 * collection and scrub.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { TempDirs } from '../helpers/temp-dirs.js';
import { skopeoCopy, skopeoRawManifest } from '../helpers/skopeo.js';
import { expectRegistryHolds, expectSameBlobs } from '../helpers/registry-assertions.js';
import { REF_NAME, buildImage, readOciLayout, writeOciLayout, type Image } from '../helpers/oci-layout.js';
import { blobPath, fingerprint, writeZotTree, type ZotTree } from '../helpers/zot-tree.js';
import { indexesSettled } from '../helpers/stored-files.js';
import { OCI_INDEX, sha256 } from '../helpers/oci.js';

const HOUR = 3_600_000;
const dirs = new TempDirs();
let tree: ZotTree;
let berth: TestServer | undefined;
let zotFilesBefore: Awaited<ReturnType<typeof fingerprint>>;
let layoutFilesBefore: Awaited<ReturnType<typeof fingerprint>>;
let indexesBefore: Record<string, { mediaType?: string; manifests: Array<Record<string, unknown>> }>;

type IndexFile = { schemaVersion: number; mediaType?: string; manifests: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string> }> };
const readIndex = async (repository: string) => JSON.parse(await readFile(path.join(tree.root, repository, 'index.json'), 'utf8')) as IndexFile;
const inode = async (repository: string, digest: string) => (await stat(blobPath(tree.root, repository, digest))).ino;

/** Every path under the root that is not a repository's content nor Berth's own `_berth/`. */
async function zotPaths(folder = tree.root, prefix = ''): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (relative === '_berth' || ['blobs', 'index.json', 'oci-layout', '.uploads'].includes(entry.name)) continue;
    found.push(relative);
    if (entry.isDirectory()) found.push(...(await zotPaths(path.join(folder, entry.name), relative)));
  }
  return found.sort();
}

beforeAll(async () => {
  tree = await writeZotTree(await dirs.make('zot-root'));
  zotFilesBefore = await fingerprint(tree.root, tree.zotFiles);
  layoutFilesBefore = await fingerprint(
    tree.root,
    tree.repositories.map((repository) => `${repository}/oci-layout`),
  );
  indexesBefore = Object.fromEntries(await Promise.all(tree.repositories.map(async (repository) => [repository, await readIndex(repository)])));
  berth = await startBerth({ root: tree.root });
});

afterAll(async () => {
  await berth?.close();
  await dirs.removeAll();
});

describe('a storage tree written by zot', () => {
  it('lists exactly its repositories, none of zot’s own files and folders', async () => {
    const catalog = await fetch(`${berth!.url}/v2/_catalog`);
    expect(catalog.status).toBe(200);
    expect(await catalog.json()).toEqual({ repositories: tree.repositories });
    const tags = await fetch(`${berth!.url}/v2/team/tools/builder/tags/list`);
    expect(await tags.json()).toEqual({ name: 'team/tools/builder', tags: ['latest', 'stable'] });
    expect(await (await fetch(`${berth!.url}/v2/library/alpine/tags/list`)).json()).toEqual({ name: 'library/alpine', tags: ['3.19', '3.20'] });
  });

  it('serves every image to skopeo by tag and by digest, byte for byte', async () => {
    for (const stored of tree.manifests) {
      const reference = stored.tag === undefined ? `${stored.repository}@${stored.manifest.digest}` : `${stored.repository}:${stored.tag}`;
      const raw = await skopeoRawManifest(`docker://${berth!.host}/${reference}`);
      expect(sha256(raw), reference).toBe(stored.manifest.digest);
      expect(raw.equals(stored.manifest.bytes), reference).toBe(true);
      if (stored.target === undefined) continue;
      // Images (and every child of an index, with --all) copied out whole, each blob checked against its name.
      const out = await dirs.make('zot-pull');
      await skopeoCopy(`docker://${berth!.host}/${reference}`, `oci:${out}:pulled`, { all: true });
      const pulled = await readOciLayout(out);
      expect(
        pulled.index.manifests.map((entry) => entry.digest),
        reference,
      ).toEqual([stored.manifest.digest]);
      expectSameBlobs(pulled.blobs, stored.blobs);
      // And over HTTP by digest, with every blob.
      if (stored.tag !== undefined) await expectRegistryHolds(berth!.url, stored.repository, stored.tag, stored.target);
    }
  });

  it('finds the referrer zot stored as an untagged entry', async () => {
    const { repository, manifest, subject, artifactType } = tree.referrer;
    for (const query of ['', `?artifactType=${encodeURIComponent(artifactType)}`]) {
      const response = await fetch(`${berth!.url}/v2/${repository}/referrers/${subject}${query}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe(OCI_INDEX);
      const body = (await response.json()) as { manifests: Array<Record<string, unknown>> };
      expect(body.manifests).toEqual([
        { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size, artifactType, annotations: { 'org.opencontainers.image.created': '2024-01-02T03:04:05Z' } },
      ]);
    }
  });

  it('knows the upload zot left unfinished, from its file in .uploads', async () => {
    const status = await fetch(`${berth!.url}/v2/${tree.upload.repository}/blobs/uploads/${tree.upload.id}`);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe(`0-${tree.upload.size - 1}`);
  });

  describe('after skopeo pushes into it', () => {
    let edge: Image;
    let fresh: Image;

    beforeAll(async () => {
      // Both share zot's deduped base layer; infra/app already holds it, the new repository does not.
      edge = await buildImage({ layers: 1, filesPerLayer: 2, maxFileBytes: 8 * 1024, label: 'edge', baseLayers: [tree.shared.layer] });
      fresh = await buildImage({ layers: 1, filesPerLayer: 2, maxFileBytes: 8 * 1024, label: 'fresh', baseLayers: [tree.shared.layer] });
      const source = await writeOciLayout(await dirs.make('zot-source'), { edge, fresh });
      await skopeoCopy(source.reference('edge'), `docker://${berth!.host}/infra/app:edge`);
      await skopeoCopy(source.reference('fresh'), `docker://${berth!.host}/infra/tools/fresh:1.0`);
    });

    it('serves the pushes and keeps zot’s layout rules', async () => {
      await expectRegistryHolds(berth!.url, 'infra/app', 'edge', edge);
      await expectRegistryHolds(berth!.url, 'infra/tools/fresh', '1.0', fresh);
      await expectRegistryHolds(berth!.url, 'infra/app', 'v1', tree.manifests.find((stored) => stored.repository === 'infra/app')!.target as Image);
      expect(await (await fetch(`${berth!.url}/v2/_catalog`)).json()).toEqual({ repositories: [...tree.repositories, 'infra/tools/fresh'].sort() });

      // index.json (once Berth has folded its journal): zot's entries kept as they were, in order;
      // the new tag one more entry like them.
      await indexesSettled(tree.root);
      const app = await readIndex('infra/app');
      expect(app.schemaVersion).toBe(2);
      expect(app.mediaType).toBeUndefined();
      expect(app.manifests.slice(0, -1)).toEqual(indexesBefore['infra/app']!.manifests);
      expect(app.manifests.at(-1)).toMatchObject({ mediaType: edge.manifest.mediaType, digest: edge.manifest.digest, size: edge.manifest.size, annotations: { [REF_NAME]: 'edge' } });
      for (const repository of tree.repositories.filter((name) => name !== 'infra/app')) expect(await readIndex(repository), repository).toEqual(indexesBefore[repository]);

      // The new repository is an OCI layout as zot makes one.
      const fresher = await readIndex('infra/tools/fresh');
      expect(fresher).toMatchObject({ schemaVersion: 2, mediaType: OCI_INDEX });
      expect(fresher.manifests).toEqual([
        expect.objectContaining({ mediaType: fresh.manifest.mediaType, digest: fresh.manifest.digest, size: fresh.manifest.size, annotations: expect.objectContaining({ [REF_NAME]: '1.0' }) }),
      ]);
      expect(await readFile(path.join(tree.root, 'infra/tools/fresh/oci-layout'), 'utf8')).toBe('{"imageLayoutVersion":"1.0.0"}');
      expect(await readdir(path.join(tree.root, 'infra/tools/fresh/.uploads'))).toEqual([]);

      // Blobs in place, named by their content.
      for (const [repository, image] of [
        ['infra/app', edge],
        ['infra/tools/fresh', fresh],
      ] as const) {
        for (const item of [image.manifest, image.config, ...image.layers]) {
          expect(sha256(await readFile(blobPath(tree.root, repository, item.digest))), `${repository} ${item.digest}`).toBe(item.digest);
        }
      }

      // zot's hard link is intact, and the new repository's copy of the layer is one more link to it.
      const shared = tree.shared.layer.digest;
      const inodes = await Promise.all([...tree.shared.repositories, 'infra/tools/fresh'].map((repository) => inode(repository, shared)));
      expect(new Set(inodes).size).toBe(1);
      expect((await stat(blobPath(tree.root, 'library/alpine', shared))).nlink).toBe(3);

      // zot's own files and every oci-layout untouched; nothing new beside them but the repositories pushed.
      expect(await fingerprint(tree.root, tree.zotFiles)).toEqual(zotFilesBefore);
      expect(await fingerprint(tree.root, Object.keys(layoutFilesBefore))).toEqual(layoutFilesBefore);
      expect(await zotPaths()).toEqual(
        [
          ...tree.zotFiles,
          '_sessions',
          '_trivy',
          '_trivy/db',
          'busybox',
          'infra',
          'infra/app',
          'infra/tools',
          'infra/tools/fresh',
          'library',
          'library/alpine',
          'team',
          'team/tools',
          'team/tools/builder',
        ].sort(),
      );
    });

    it('garbage collection and scrub leave zot’s files alone', async () => {
      const registry = berth!.app.maintenance;
      // Two days on: zot's untagged image and its unfinished upload are what zot's own GC removes too.
      const collection = await registry.gc.collect(Date.now() + 48 * HOUR);
      const untagged = tree.untagged;
      const byName = Object.fromEntries(collection.repositories.map((item) => [item.repository, item]));
      expect(byName['library/alpine']).toMatchObject({ tags: [], manifests: [untagged.manifest.digest], uploads: [tree.upload.id] });
      expect(byName['library/alpine']!.blobs.map((blob) => blob.digest).sort()).toEqual(untagged.blobs.map((blob) => blob.digest).sort());
      for (const repository of ['busybox', 'infra/app', 'infra/tools/fresh', 'team/tools/builder']) {
        expect(byName[repository], repository).toMatchObject({ tags: [], manifests: [], blobs: [], uploads: [] });
      }

      const results = await registry.scrubber.scrub();
      expect(results.filter((result) => result.status !== 'ok')).toEqual([]);
      expect(results).toHaveLength(tree.manifests.length - 1 + 2);

      expect(await fingerprint(tree.root, tree.zotFiles)).toEqual(zotFilesBefore);
      expect(await fingerprint(tree.root, Object.keys(layoutFilesBefore))).toEqual(layoutFilesBefore);
      const shared = tree.shared.layer.digest;
      expect(new Set(await Promise.all([...tree.shared.repositories, 'infra/tools/fresh'].map((repository) => inode(repository, shared)))).size).toBe(1);
      for (const stored of tree.manifests.filter((item) => item.tag !== undefined)) await expectRegistryHolds(berth!.url, stored.repository, stored.tag!, stored.target!);
      expect((await fetch(`${berth!.url}/v2/library/alpine/manifests/${untagged.manifest.digest}`, { method: 'HEAD' })).status).toBe(404);
    });
  });
});
