/**
 * The contract every Store must keep, run against each implementation: the filesystem store on a
 * temporary folder and the S3 store on the run's S3 (a fresh bucket for this file, a fresh key
 * prefix per test). The cases speak only the Store interface and check bytes, digests, sizes and
 * error codes, as the registry relies on them. S3-only cases are in s3-store.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { digestOf, type Digest } from '../../src/oci/digest.js';
import { LocalCoordination } from '../../src/coordination/local-coordination.js';
import { FsStore } from '../../src/storage/fs-store.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { S3Store } from '../../src/storage/s3-store.js';
import { REF_NAME, type OciIndexFile, type Store } from '../../src/storage/store.js';
import { RegistryError } from '../../src/oci/errors.js';
import { TempDirs } from '../helpers/temp-dirs.js';
import { createBucket, emptyAndDeleteBucket, s3Service } from '../helpers/services.js';
import { OCI_MANIFEST, sha256 } from '../helpers/oci.js';

const MiB = 1024 * 1024;

interface Opened {
  store: Store;
  /** Another instance on the same storage (a restarted process, or a second replica). */
  reopen(): Store;
}

interface Backend {
  kind: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  open(): Promise<Opened>;
}

const temps = new TempDirs();
const fsBackend: Backend = {
  kind: 'FsStore',
  async setup() {},
  teardown: () => temps.removeAll(),
  async open() {
    const root = await temps.make('contract');
    return { store: new FsStore(root), reopen: () => new FsStore(root) };
  },
};

let bucket = '';
const clients: S3Client[] = [];
const s3Backend: Backend = {
  kind: 'S3Store',
  async setup() {
    bucket = await createBucket('contract');
  },
  async teardown() {
    for (const client of clients.splice(0)) client.destroy();
    await emptyAndDeleteBucket(bucket);
  },
  async open() {
    const { endpoint, region, accessKey, secretKey } = s3Service();
    const settings = { bucket, rootDirectory: `contract/${randomBytes(6).toString('hex')}`, region, endpoint, forcePathStyle: true, accessKey, secretKey, skipVerify: false };
    // Replicas share the bucket and the coordination, not the client.
    const coordination = new LocalCoordination();
    const replica = () => {
      const client = createS3Client(settings);
      clients.push(client);
      return new S3Store({ client, settings, coordination });
    };
    return { store: replica(), reopen: replica };
  },
};

/** A request body as the network delivers it: chunks of 64 KiB. */
function body(bytes: Buffer): Readable {
  const chunks: Buffer[] = [];
  for (let start = 0; start < bytes.length; start += 64 * 1024) chunks.push(bytes.subarray(start, start + 64 * 1024));
  return Readable.from(chunks);
}

/** A body that delivers `bytes` then fails, as a dropped connection does. */
function cutBody(bytes: Buffer): Readable {
  return Readable.from(
    (async function* () {
      yield* body(bytes);
      throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    })(),
  );
}

async function readAll(store: Store, name: string, digest: Digest, bufferSize = 256 * 1024): Promise<Buffer> {
  const reader = await store.openBlob(name, digest);
  const out = Buffer.alloc(reader.size);
  const buffer = Buffer.alloc(bufferSize);
  try {
    for (let position = 0; position < reader.size;) {
      const read = await reader.read(buffer, position);
      expect(read).toBeGreaterThan(0);
      buffer.copy(out, position, 0, read);
      position += read;
    }
  } finally {
    await reader.close();
  }
  return out;
}

const entry = (i: number) => ({ mediaType: OCI_MANIFEST, digest: digestOf(Buffer.from(`manifest ${i}`)).value, size: 10 + i });
const UNKNOWN_ID = '0b9e8c1e-1d2f-4c3b-9a8d-7e6f5a4b3c2d';

describe.each([fsBackend, s3Backend])('$kind keeps the Store contract', (backend) => {
  let store: Store;
  let reopen: () => Store;
  beforeAll(() => backend.setup());
  afterAll(() => backend.teardown());
  beforeEach(async () => {
    ({ store, reopen } = await backend.open());
  });

  describe('repositories', () => {
    it('creates repositories with an empty index, finds nested names, and never resets an index', async () => {
      expect(await store.repositoryExists('app')).toBe(false);
      await expect(store.readIndex('app')).rejects.toMatchObject({ key: 'NAME_UNKNOWN' });
      for (const name of ['app', 'app/web', 'library/alpine', 'a/b/c/d']) await store.ensureRepository(name);
      expect(await store.repositoryExists('app')).toBe(true);
      expect(await store.repositoryExists('library')).toBe(false);
      expect(await store.readIndex('library/alpine')).toMatchObject({ schemaVersion: 2, manifests: [] });
      expect(await store.listRepositories()).toEqual(['a/b/c/d', 'app', 'app/web', 'library/alpine']);

      await store.updateIndex('app', (index) => void index.manifests.push(entry(1)));
      const other = reopen();
      await other.ensureRepository('app');
      expect((await other.readIndex('app')).manifests).toEqual([entry(1)]);
      expect(await other.repositoryExists('app/web')).toBe(true);
      // A fresh instance walks the storage rather than remembering what it created.
      expect(await other.listRepositories()).toEqual(['a/b/c/d', 'app', 'app/web', 'library/alpine']);
    });

    it('removes a repository that holds no manifest, with its blobs, sessions and record; nested and sharing repositories stay', async () => {
      const bytes = randomBytes(40 * 1024);
      const digest = digestOf(bytes);
      for (const name of ['app', 'app/web', 'other']) await store.writeSmallBlob(name, digest, bytes);
      const session = await store.uploads.create('app');
      await store.uploads.append('app', session.id, body(randomBytes(1000)));
      await store.appendDerived('app', 'facts\n');
      await store.replaceDerived('app#view', 'header\n');
      await store.replaceDerived('app#viewp0', 'rows\n');
      await store.replaceDerived('app/web#view', 'kept\n');
      await store.updateIndex('app', (index) => void index.manifests.push(entry(1)));
      const replica = reopen();
      expect(await replica.repositoryExists('app')).toBe(true);
      await replica.ensureRepository('app');

      // A manifest is held: nothing goes.
      expect(await store.removeRepository('app')).toBe(false);
      expect(await store.statBlob('app', digest)).toBe(bytes.length);
      await store.updateIndex('app', (index) => void index.manifests.splice(0));
      expect(await store.removeRepository('app')).toBe(true);

      expect(await store.repositoryExists('app')).toBe(false);
      await expect(store.readIndex('app')).rejects.toMatchObject({ key: 'NAME_UNKNOWN' });
      expect(await store.statBlob('app', digest)).toBeUndefined();
      expect(await store.uploads.offset('app', session.id).catch((error: { key?: string }) => error.key)).toBe('BLOB_UPLOAD_UNKNOWN');
      expect(await store.readDerived('app')).toBe('');
      expect(await store.readDerived('app#view')).toBe('');
      expect(await store.readDerived('app#viewp0')).toBe('');
      expect(await store.readDerived('app/web#view')).toBe('kept\n');
      expect(await store.listRepositories()).toEqual(['app/web', 'other']);
      expect(await reopen().listRepositories()).toEqual(['app/web', 'other']);
      for (const name of ['app/web', 'other']) expect(await readAll(store, name, digest)).toEqual(bytes);
      // Already gone: nothing to do, and it says so.
      expect(await store.removeRepository('app')).toBe(true);
      // A session opened before the removal cannot place its blob in a repository that is gone.
      await expect(store.uploads.commit('app', session.id, digestOf(Buffer.from('late')), body(Buffer.from('late')))).rejects.toMatchObject({ key: 'BLOB_UPLOAD_UNKNOWN' });
      expect(await store.statBlob('app', digestOf(Buffer.from('late')))).toBeUndefined();
      expect(await store.repositoryExists('app')).toBe(false);

      if (store.replicated) {
        // A replica that knew it makes it again on its next push, though it asks nothing else first.
        await replica.ensureRepository('app');
        expect(await store.readIndex('app')).toMatchObject({ manifests: [] });
        expect(await store.removeRepository('app')).toBe(true);
      }
      // The replica that knew it sees it gone, and makes it again on the next write.
      await expect(replica.readIndex('app')).rejects.toMatchObject({ key: 'NAME_UNKNOWN' });
      expect(await replica.listRepositories()).toEqual(['app/web', 'other']);
      await replica.updateIndex('app', (index) => void index.manifests.push(entry(2)));
      expect((await store.readIndex('app')).manifests).toEqual([entry(2)]);
      // Replicas (S3) see it at once; a second filesystem instance (never a writer beside a server) after its catalog's TTL.
      expect(await (store.replicated ? store : reopen()).listRepositories()).toEqual(['app', 'app/web', 'other']);
    });

    it('refuses invalid names before touching storage', async () => {
      await expect(store.ensureRepository('Bad/Name')).rejects.toMatchObject({ key: 'NAME_INVALID' });
      await expect(store.ensureRepository('a/blobs')).rejects.toMatchObject({ key: 'NAME_INVALID' });
      await expect(store.ensureRepository('../etc')).rejects.toMatchObject({ key: 'NAME_INVALID' });
      expect(await store.listRepositories()).toEqual([]);
    });

    it('is writable', async () => {
      await store.checkWritable();
      await Promise.all([store.checkWritable(), store.checkWritable(), reopen().checkWritable()]);
      expect(await store.listRepositories()).toEqual([]);
    });
  });

  describe('derived records', () => {
    it("appends, reads back and replaces a repository's record and the registry's, never listed as repositories", async () => {
      expect(await store.readDerived('app')).toBe('');
      await store.appendDerived('app', 'one\n');
      await store.appendDerived('app', 'two\n');
      await store.appendDerived('', 'registry\n');
      expect(await reopen().readDerived('app')).toBe('one\ntwo\n');
      expect(await store.readDerived('')).toBe('registry\n');
      await store.replaceDerived('app', 'three\n');
      expect(await reopen().readDerived('app')).toBe('three\n');
      // Another record of the same repository (`<name>#<kind>`): its own.
      await store.replaceDerived('app#viewp0', 'chunk\n');
      expect(await reopen().readDerived('app#viewp0')).toBe('chunk\n');
      expect(await store.readDerived('app')).toBe('three\n');
      expect(await reopen().listRepositories()).toEqual([]);
      await expect(store.appendDerived('../etc', 'x')).rejects.toMatchObject({ key: 'NAME_INVALID' });
      await expect(store.replaceDerived('../etc#view', 'x')).rejects.toMatchObject({ key: 'NAME_INVALID' });
      await expect(store.replaceDerived('app#../view', 'x')).rejects.toThrow(/refusing derived record key/);
    });
  });

  describe('blobs', () => {
    it('writes, stats, reads at any position, lists and deletes a blob', async () => {
      const bytes = randomBytes(300 * 1024 + 17);
      const digest = digestOf(bytes);
      const before = Date.now();
      await store.writeSmallBlob('store/app', digest, bytes);
      expect(await store.repositoryExists('store/app')).toBe(true);
      expect(await store.statBlob('store/app', digest)).toBe(bytes.length);
      expect(await store.statBlob('store/other', digest)).toBeUndefined();
      expect((await store.readSmallBlob('store/app', digest)).equals(bytes)).toBe(true);

      const reader = await store.openBlob('store/app', digest);
      expect(reader.size).toBe(bytes.length);
      const buffer = Buffer.alloc(1000);
      // A range, the next piece (sequential), a step back, the tail, and past the end.
      expect(await reader.read(buffer, 5000)).toBe(1000);
      expect(buffer.equals(bytes.subarray(5000, 6000))).toBe(true);
      expect(await reader.read(buffer, 6000)).toBe(1000);
      expect(buffer.equals(bytes.subarray(6000, 7000))).toBe(true);
      expect(await reader.read(buffer, 10)).toBe(1000);
      expect(buffer.equals(bytes.subarray(10, 1010))).toBe(true);
      expect(await reader.read(buffer, bytes.length - 300)).toBe(300);
      expect(buffer.subarray(0, 300).equals(bytes.subarray(-300))).toBe(true);
      expect(await reader.read(buffer, bytes.length)).toBe(0);
      await reader.close();
      expect((await readAll(store, 'store/app', digest, 4096)).equals(bytes)).toBe(true);

      const listed = await store.listBlobs('store/app');
      expect(listed.map(({ digest: d, size }) => ({ digest: d.value, size }))).toEqual([{ digest: digest.value, size: bytes.length }]);
      expect(listed[0]!.modifiedMs).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(listed[0]!.links).toBeGreaterThanOrEqual(1);

      await store.deleteBlob('store/app', digest);
      expect(await store.statBlob('store/app', digest)).toBeUndefined();
      expect(await store.listBlobs('store/app')).toEqual([]);
      await expect(store.deleteBlob('store/app', digest)).rejects.toMatchObject({ key: 'BLOB_UNKNOWN' });
      await expect(store.openBlob('store/app', digest)).rejects.toMatchObject({ key: 'BLOB_UNKNOWN' });
      await expect(store.readSmallBlob('store/app', digest)).rejects.toMatchObject({ key: 'BLOB_UNKNOWN' });
    });

    it('reads a 20 MiB blob whole, in 256 KiB buffers, byte for byte', async () => {
      const bytes = randomBytes(20 * MiB);
      const digest = digestOf(bytes);
      const session = await store.uploads.create('big');
      expect(await store.uploads.commit('big', session.id, digest, body(bytes))).toBe(bytes.length);
      const read = await readAll(store, 'big', digest);
      expect(sha256(read)).toBe(digest.value);
    });

    it('mounts a blob into another repository as a fresh file', async () => {
      const bytes = randomBytes(70_000);
      const digest = digestOf(bytes);
      await store.writeSmallBlob('mount/from', digest, bytes);
      await new Promise((resolve) => setTimeout(resolve, 1100)); // S3 times have whole seconds
      const before = Date.now();
      expect(await store.mountBlob('mount/from', 'mount/to', digest)).toBe(true);
      expect(await store.repositoryExists('mount/to')).toBe(true);
      expect((await store.readSmallBlob('mount/to', digest)).equals(bytes)).toBe(true);
      const [mounted] = await store.listBlobs('mount/to');
      expect(mounted).toMatchObject({ digest: { value: digest.value }, size: bytes.length });
      // Fresh: garbage collection of the target must treat it as just pushed.
      expect(mounted!.modifiedMs).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(await store.mountBlob('mount/from', 'mount/to', digest)).toBe(true);
      expect(await store.mountBlob('mount/nowhere', 'mount/to2', digestOf(Buffer.from('absent')))).toBe(false);
      expect(await store.mountBlob('mount/to', 'mount/to3', digestOf(Buffer.from('absent')))).toBe(false);
      // The source keeps its copy when the target's goes.
      await store.deleteBlob('mount/to', digest);
      expect(await store.statBlob('mount/from', digest)).toBe(bytes.length);
    });

    it('makes a mounted blob new to garbage collection even where the target held it already', async () => {
      const bytes = randomBytes(1000);
      const digest = digestOf(bytes);
      for (const name of ['remount/from', 'remount/to']) await store.uploads.commit(name, (await store.uploads.create(name)).id, digest, body(bytes));
      const before = (await store.listBlobs('remount/to'))[0]!.modifiedMs;
      await new Promise((resolve) => setTimeout(resolve, 1100)); // S3 times have whole seconds
      expect(await store.mountBlob('remount/from', 'remount/to', digest)).toBe(true);
      expect((await store.listBlobs('remount/to'))[0]!.modifiedMs).toBeGreaterThan(before);
      expect((await store.readSmallBlob('remount/to', digest)).equals(bytes)).toBe(true);
    });
  });

  describe('index', () => {
    it('updates the index under the lock and returns what the change returns', async () => {
      const result = await store.updateIndex('idx', (index) => {
        index.manifests.push(entry(1));
        index.annotations = { note: 'x' };
        return 'done';
      });
      expect(result).toBe('done');
      expect(await store.readIndex('idx')).toMatchObject({ schemaVersion: 2, manifests: [entry(1)], annotations: { note: 'x' } });
      // Another instance's write is seen at once (no stale cache).
      const other = reopen();
      await other.updateIndex('idx', (index) => void index.manifests.push(entry(2)));
      expect((await store.readIndex('idx')).manifests).toEqual([entry(1), entry(2)]);
      await store.updateIndex('idx', (index) => void (index.manifests = index.manifests.filter((m) => m.digest !== entry(1).digest)));
      expect((await other.readIndex('idx')).manifests).toEqual([entry(2)]);
    });

    it('keeps all of 20 concurrent updates', async () => {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.updateIndex('busy', async (index) => {
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
            index.manifests.push(entry(i));
          }),
        ),
      );
      const digests = (await store.readIndex('busy')).manifests.map((m) => m.digest).sort();
      expect(digests).toEqual(Array.from({ length: 20 }, (_, i) => entry(i).digest).sort());
    });

    it('runs a transaction holding the repository lock', async () => {
      const bytes = Buffer.from('{"manifest":true}');
      const digest = digestOf(bytes);
      await store.ensureRepository('tx');
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const order: string[] = [];
      const transaction = store.withRepository('tx', async (tx) => {
        const index = await tx.readIndex();
        await tx.writeSmallBlob(digest, bytes);
        expect(await tx.statBlob(digest)).toBe(bytes.length);
        expect((await tx.listBlobs()).map((file) => file.digest.value)).toEqual([digest.value]);
        await gate;
        await tx.writeIndex({ ...index, manifests: [...index.manifests, entry(7)] } satisfies OciIndexFile);
        order.push('transaction');
        return 42;
      });
      const update = store.updateIndex('tx', (index) => {
        order.push('update');
        index.manifests.push(entry(8));
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(order).toEqual([]);
      release();
      expect(await transaction).toBe(42);
      await update;
      expect(order).toEqual(['transaction', 'update']);
      expect((await store.readIndex('tx')).manifests).toEqual([entry(7), entry(8)]);
      await store.withRepository('tx', async (tx) => {
        await tx.deleteBlob(digest);
        expect(await tx.statBlob(digest)).toBeUndefined();
        await expect(tx.deleteBlob(digest)).rejects.toMatchObject({ key: 'BLOB_UNKNOWN' });
      });
    });
  });

  describe('index changes (group commit)', () => {
    const tagged = (i: number, tag: string) => ({ ...entry(i), annotations: { [REF_NAME]: tag } });
    const tagsOf = (index: OciIndexFile) => index.manifests.map((item) => item.annotations?.[REF_NAME] ?? `@${item.digest}`);

    it('applies 40 concurrent changes in arrival order, answers each with its own outcome, and a failing one leaves no trace', async () => {
      await store.ensureRepository('group');
      const outcomes = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) =>
          store.changeIndex('group', {
            // Prepares finish in random order; applies still run in the order the changes came.
            prepare: () => new Promise((resolve) => setTimeout(resolve, Math.random() * 10)),
            apply: (index) => {
              index.put(tagged(i, `t${i}`));
              // Fails after editing: its edit must be undone, the others kept.
              if (i === 13) throw new RegistryError('DENIED', { tag: `t${i}` });
              return index.tagged(`t${i}`)?.digest;
            },
          }),
        ),
      );
      expect(outcomes.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : (outcome.reason as RegistryError).key))).toEqual(
        Array.from({ length: 40 }, (_, i) => (i === 13 ? 'DENIED' : entry(i).digest)),
      );
      const expected = Array.from({ length: 40 }, (_, i) => `t${i}`).filter((tag) => tag !== 't13');
      expect(tagsOf(await store.readIndex('group'))).toEqual(expected);
      // What a restarted process (or another replica) reads from storage.
      expect(tagsOf(await reopen().readIndex('group'))).toEqual(expected);
    });

    it('applies a put, a delete and a put of one tag submitted together in that order, each seeing the one before', async () => {
      await store.ensureRepository('order');
      const seen: string[] = [];
      const [first, removed, second] = await Promise.all([
        store.changeIndex('order', { apply: (index) => index.put(tagged(1, 'x')) }),
        store.changeIndex('order', {
          apply: (index) => {
            const current = index.tagged('x');
            if (!current) throw new RegistryError('MANIFEST_UNKNOWN', { tag: 'x' });
            index.remove(current);
            seen.push(current.digest, String(index.holds(current.digest)));
            return current.digest;
          },
        }),
        store.changeIndex('order', {
          prepare: () => new Promise((resolve) => setTimeout(resolve, 20)),
          apply: (index) => {
            seen.push(String(index.tagged('x')));
            index.put(tagged(2, 'x'));
          },
        }),
      ]);
      expect([first, second]).toEqual([undefined, undefined]);
      expect(removed).toBe(entry(1).digest);
      expect(seen).toEqual([entry(1).digest, 'false', 'undefined']);
      expect((await store.readIndex('order')).manifests).toEqual([tagged(2, 'x')]);
      expect((await reopen().readIndex('order')).manifests).toEqual([tagged(2, 'x')]);
    });

    it('calls committed for each change that succeeded, in apply order, before any caller of the group is answered', async () => {
      await store.ensureRepository('hooks');
      const seen: string[] = [];
      await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) =>
          store
            .changeIndex('hooks', {
              prepare: () => new Promise((resolve) => setTimeout(resolve, Math.random() * 10)),
              apply: (index) => {
                if (i === 5) throw new RegistryError('DENIED', { tag: `t${i}` });
                index.put(tagged(i, `t${i}`));
                return i;
              },
              committed: (value) => seen.push(`committed ${value}`),
            })
            .then(() => seen.push(`answered ${i}`)),
        ),
      );
      const committed = seen.filter((item) => item.startsWith('committed'));
      expect(committed).toEqual(
        Array.from({ length: 12 }, (_, i) => i)
          .filter((i) => i !== 5)
          .map((i) => `committed ${i}`),
      );
      // Each caller hears back only after its own hook (and those of the changes before it) ran.
      for (let i = 0; i < 12; i++) if (i !== 5) expect(seen.indexOf(`committed ${i}`)).toBeLessThan(seen.indexOf(`answered ${i}`));
      expect(seen).not.toContain('answered 5');
    });

    it('fails only the change whose prepare throws, and refuses a repository that does not exist', async () => {
      await store.ensureRepository('prep');
      const [bad, good] = await Promise.allSettled([
        store.changeIndex('prep', {
          prepare: () => Promise.reject(new RegistryError('MANIFEST_BLOB_UNKNOWN', {})),
          apply: (index) => index.put(tagged(1, 'bad')),
        }),
        store.changeIndex('prep', { apply: (index) => index.put(tagged(2, 'good')) }),
      ]);
      expect(bad).toMatchObject({ status: 'rejected', reason: { key: 'MANIFEST_BLOB_UNKNOWN' } });
      expect(good.status).toBe('fulfilled');
      expect(tagsOf(await store.readIndex('prep'))).toEqual(['good']);
      await expect(store.changeIndex('nowhere', { apply: (index) => index.put(tagged(1, 'x')) })).rejects.toMatchObject({ key: 'NAME_UNKNOWN' });
    });

    it('names the index version without reading it: the same for every instance until a change, a new one after each', async () => {
      await expect(store.indexVersion('versions')).rejects.toMatchObject({ key: 'NAME_UNKNOWN' });
      await store.ensureRepository('versions');
      const seen: string[] = [];
      const next = async () => {
        const version = await store.indexVersion('versions');
        expect(seen).not.toContain(version);
        // What a restarted process (or another replica) sees, without a change: the same.
        expect(await reopen().indexVersion('versions')).toBe(version);
        expect(await store.indexVersion('versions')).toBe(version);
        seen.push(version);
      };
      await next();
      await store.changeIndex('versions', { apply: (index) => index.put(tagged(1, 'a')) });
      await next();
      await store.changeIndex('versions', { apply: (index) => index.put(tagged(2, 'b')) });
      await next();
      await store.changeIndex('versions', { apply: (index) => index.remove(index.tagged('a')!) });
      await next();
      await store.withRepository('versions', async (tx) => tx.writeIndex({ ...(await tx.readIndex()), manifests: [tagged(3, 'c')] }));
      await next();
      await reopen().updateIndex('versions', (index) => void index.manifests.push(tagged(4, 'd')));
      await next();
      // Folding the journal (filesystem) rewrites index.json, the same index: never an earlier version.
      await store.flush();
      expect(seen.slice(0, -1)).not.toContain(await store.indexVersion('versions'));
    });

    it('keeps an index rewritten whole (garbage collection) and later changes together', async () => {
      await store.ensureRepository('mixed');
      await store.changeIndex('mixed', { apply: (index) => index.put(tagged(1, 'a')) });
      await store.withRepository('mixed', async (tx) => {
        const index = await tx.readIndex();
        expect(tagsOf(index)).toEqual(['a']);
        await tx.writeIndex({ ...index, manifests: [...index.manifests, tagged(2, 'b')] });
      });
      await store.changeIndex('mixed', { apply: (index) => index.remove(index.tagged('a')!) });
      expect(tagsOf(await store.readIndex('mixed'))).toEqual(['b']);
      expect(tagsOf(await reopen().readIndex('mixed'))).toEqual(['b']);
    });
  });

  describe('uploads', () => {
    it('appends chunks in order, refuses a chunk out of order, and commits', async () => {
      const { id, offset } = await store.uploads.create('up');
      expect(offset).toBe(0);
      expect(await store.uploads.offset('up', id)).toBe(0);
      expect(await store.uploads.append('up', id, body(Buffer.from('hello')))).toBe(5);
      expect(await store.uploads.append('up', id, body(Buffer.from(' world')), 5)).toBe(11);
      await expect(store.uploads.append('up', id, body(Buffer.from('!')), 3)).rejects.toMatchObject({ key: 'RANGE_INVALID', detail: { offset: 11 } });
      expect(await store.uploads.offset('up', id)).toBe(11);
      const digest = digestOf(Buffer.from('hello world'));
      expect(await store.uploads.commit('up', id, digest)).toBe(11);
      expect((await store.readSmallBlob('up', digest)).toString()).toBe('hello world');
      await expect(store.uploads.offset('up', id)).rejects.toMatchObject({ key: 'BLOB_UPLOAD_UNKNOWN' });
      await expect(store.uploads.append('up', id, body(Buffer.from('x')))).rejects.toMatchObject({ key: 'BLOB_UPLOAD_UNKNOWN' });
    });

    it('commits an empty blob', async () => {
      const { id } = await store.uploads.create('empty');
      const digest = digestOf(Buffer.alloc(0));
      expect(await store.uploads.commit('empty', id, digest)).toBe(0);
      expect(await store.statBlob('empty', digest)).toBe(0);
      expect((await store.readSmallBlob('empty', digest)).length).toBe(0);
    });

    it('appends across part boundaries (3 MiB + 7 MiB + 1 byte + 9 MiB) and commits the exact bytes', async () => {
      const pieces = [randomBytes(3 * MiB), randomBytes(7 * MiB), randomBytes(1), randomBytes(9 * MiB)];
      const all = Buffer.concat(pieces);
      const { id } = await store.uploads.create('parts');
      let offset = 0;
      for (const piece of pieces) {
        offset = await store.uploads.append('parts', id, body(piece), offset);
        expect(await store.uploads.offset('parts', id)).toBe(offset);
      }
      expect(offset).toBe(all.length);
      const digest = digestOf(all);
      expect(await store.uploads.commit('parts', id, digest)).toBe(all.length);
      expect(await store.statBlob('parts', digest)).toBe(all.length);
      expect(sha256(await readAll(store, 'parts', digest))).toBe(digest.value);
    });

    it('commits with a final body, small or larger than a part', async () => {
      for (const size of [10, 12 * MiB]) {
        const bytes = randomBytes(size);
        const digest = digestOf(bytes);
        const { id } = await store.uploads.create('mono');
        expect(await store.uploads.commit('mono', id, digest, body(bytes))).toBe(size);
        expect(sha256(await readAll(store, 'mono', digest))).toBe(digest.value);
        await expect(store.uploads.offset('mono', id)).rejects.toMatchObject({ key: 'BLOB_UPLOAD_UNKNOWN' });
      }
      // After chunks, a last chunk in the PUT.
      const head = randomBytes(5 * MiB);
      const last = randomBytes(4 * MiB);
      const digest = digestOf(Buffer.concat([head, last]));
      const { id } = await store.uploads.create('mono');
      await store.uploads.append('mono', id, body(head));
      expect(await store.uploads.commit('mono', id, digest, body(last))).toBe(9 * MiB);
      expect(sha256(await readAll(store, 'mono', digest))).toBe(digest.value);
    });

    it('refuses a wrong digest and serves nothing; the session stays and can still be committed', async () => {
      const bytes = randomBytes(9 * MiB + 5);
      const right = digestOf(bytes);
      const wrong = digestOf(Buffer.from('something else'));
      const { id } = await store.uploads.create('wrong');
      await store.uploads.append('wrong', id, body(bytes));
      const failure = store.uploads.commit('wrong', id, wrong);
      await expect(failure).rejects.toMatchObject({ key: 'DIGEST_INVALID' });
      await expect(failure).rejects.toMatchObject({ detail: { reason: expect.stringContaining(right.value) } });
      expect(await store.statBlob('wrong', wrong)).toBeUndefined();
      expect(await store.statBlob('wrong', right)).toBeUndefined();
      expect(await store.listBlobs('wrong')).toEqual([]);
      expect(await store.uploads.offset('wrong', id)).toBe(bytes.length);
      expect(await store.uploads.commit('wrong', id, right)).toBe(bytes.length);
      expect(sha256(await readAll(store, 'wrong', right))).toBe(right.value);

      const small = Buffer.from('tiny');
      const session = await store.uploads.create('wrong');
      await expect(store.uploads.commit('wrong', session.id, wrong, body(small))).rejects.toMatchObject({ key: 'DIGEST_INVALID' });
      expect(await store.statBlob('wrong', wrong)).toBeUndefined();
      expect(await store.statBlob('wrong', digestOf(small))).toBeUndefined();
    });

    it('commits sha512 digests, small and across parts, and refuses a wrong one', async () => {
      for (const [size, withBody] of [
        [1000, false],
        [9 * MiB + 3, false],
        [20, true],
        [8 * MiB + 1, true],
      ] as const) {
        const bytes = randomBytes(size);
        const digest = digestOf(bytes, 'sha512');
        const { id } = await store.uploads.create('sha512');
        if (withBody) {
          await expect(store.uploads.commit('sha512', id, digestOf(Buffer.from('other'), 'sha512'), body(bytes))).rejects.toMatchObject({ key: 'DIGEST_INVALID' });
          expect(await store.statBlob('sha512', digest)).toBeUndefined();
          await store.uploads.cancel('sha512', id);
          const again = await store.uploads.create('sha512');
          expect(await store.uploads.commit('sha512', again.id, digest, body(bytes))).toBe(size);
        } else {
          await store.uploads.append('sha512', id, body(bytes));
          await expect(store.uploads.commit('sha512', id, digestOf(Buffer.from('other'), 'sha512'))).rejects.toMatchObject({ key: 'DIGEST_INVALID' });
          expect(await store.uploads.commit('sha512', id, digest)).toBe(size);
        }
        const read = await readAll(store, 'sha512', digest);
        expect(createHash('sha512').update(read).digest('hex')).toBe(digest.hex);
      }
    });

    it('keeps the bytes that arrived when a body is cut off midway, and resumes after them', async () => {
      const first = randomBytes(1 * MiB);
      const rest = randomBytes(10 * MiB);
      const { id } = await store.uploads.create('cut');
      await store.uploads.append('cut', id, body(first));
      // Cut after crossing a part boundary (1 MiB kept + 9 MiB sent), then after a few bytes, then in a commit.
      let held = first.length;
      await expect(store.uploads.append('cut', id, cutBody(rest.subarray(0, 9 * MiB)), held)).rejects.toThrow('aborted');
      expect(await store.uploads.offset('cut', id)).toBe((held += 9 * MiB));
      await expect(store.uploads.append('cut', id, cutBody(rest.subarray(9 * MiB, 9 * MiB + 1000)))).rejects.toThrow('aborted');
      expect(await store.uploads.offset('cut', id)).toBe((held += 1000));
      const all = Buffer.concat([first, rest]);
      await expect(store.uploads.commit('cut', id, digestOf(all), cutBody(rest.subarray(9 * MiB + 1000, 9 * MiB + 5000)))).rejects.toThrow('aborted');
      expect(await store.uploads.offset('cut', id)).toBe((held += 4000));
      // The client resumes from the offset the registry reports.
      expect(await store.uploads.append('cut', id, body(all.subarray(held)), held)).toBe(all.length);
      const digest = digestOf(all);
      await store.uploads.commit('cut', id, digest);
      expect(sha256(await readAll(store, 'cut', digest))).toBe(digest.value);
    });

    it('lets another instance continue a session (a second replica, or a restart)', async () => {
      const pieces = [randomBytes(3 * MiB), randomBytes(7 * MiB), randomBytes(1), randomBytes(2 * MiB)];
      const other = reopen();
      const { id } = await store.uploads.create('shared');
      expect(await store.uploads.append('shared', id, body(pieces[0]!))).toBe(3 * MiB);
      expect(await other.uploads.offset('shared', id)).toBe(3 * MiB);
      expect(await other.uploads.append('shared', id, body(pieces[1]!), 3 * MiB)).toBe(10 * MiB);
      expect(await store.uploads.append('shared', id, body(pieces[2]!), 10 * MiB)).toBe(10 * MiB + 1);
      const digest = digestOf(Buffer.concat(pieces));
      expect(await other.uploads.commit('shared', id, digest, body(pieces[3]!))).toBe(12 * MiB + 1);
      expect(sha256(await readAll(store, 'shared', digest))).toBe(digest.value);
      await expect(store.uploads.offset('shared', id)).rejects.toMatchObject({ key: 'BLOB_UPLOAD_UNKNOWN' });
    });

    it('cancels a session', async () => {
      const { id } = await store.uploads.create('cancel');
      await store.uploads.append('cancel', id, body(randomBytes(9 * MiB)));
      await store.uploads.cancel('cancel', id);
      await expect(store.uploads.offset('cancel', id)).rejects.toMatchObject({ key: 'BLOB_UPLOAD_UNKNOWN' });
      await expect(store.uploads.cancel('cancel', id)).rejects.toMatchObject({ key: 'BLOB_UPLOAD_UNKNOWN' });
      expect(await store.withRepository('cancel', (tx) => tx.listUploads())).toEqual([]);
    });

    it("answers BLOB_UPLOAD_UNKNOWN for unknown ids, ids that are not UUIDs, and another repository's id", async () => {
      const { id } = await store.uploads.create('ids/one');
      await store.ensureRepository('ids/two');
      for (const bad of [UNKNOWN_ID, 'not-a-uuid', '../../../etc/passwd', id.toUpperCase()]) {
        await expect(store.uploads.offset('ids/one', bad), bad).rejects.toMatchObject({ key: 'BLOB_UPLOAD_UNKNOWN' });
        await expect(store.uploads.append('ids/one', bad, body(Buffer.from('x'))), bad).rejects.toMatchObject({ key: 'BLOB_UPLOAD_UNKNOWN' });
        await expect(store.uploads.commit('ids/one', bad, digestOf(Buffer.from('x'))), bad).rejects.toMatchObject({ key: 'BLOB_UPLOAD_UNKNOWN' });
        await expect(store.uploads.cancel('ids/one', bad), bad).rejects.toMatchObject({ key: 'BLOB_UPLOAD_UNKNOWN' });
      }
      await expect(store.uploads.offset('ids/two', id)).rejects.toMatchObject({ key: 'BLOB_UPLOAD_UNKNOWN' });
      await expect(store.uploads.append('ids/two', id, body(Buffer.from('x')))).rejects.toMatchObject({ key: 'BLOB_UPLOAD_UNKNOWN' });
      await expect(store.uploads.cancel('ids/two', id)).rejects.toMatchObject({ key: 'BLOB_UPLOAD_UNKNOWN' });
      expect(await store.uploads.offset('ids/one', id)).toBe(0);
    });

    it('lists sessions for garbage collection and deletes them', async () => {
      const before = Date.now();
      const empty = await store.uploads.create('gc');
      const small = await store.uploads.create('gc');
      const large = await store.uploads.create('gc');
      await store.uploads.append('gc', small.id, body(Buffer.from('0123456789')));
      await store.uploads.append('gc', large.id, body(randomBytes(9 * MiB)));
      const listed = await store.withRepository('gc', (tx) => tx.listUploads());
      expect(listed.map(({ id, size }) => ({ id, size })).sort((a, b) => a.id.localeCompare(b.id))).toEqual(
        [
          { id: empty.id, size: 0 },
          { id: small.id, size: 10 },
          { id: large.id, size: 9 * MiB },
        ].sort((a, b) => a.id.localeCompare(b.id)),
      );
      for (const upload of listed) expect(upload.modifiedMs).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);

      await store.withRepository('gc', async (tx) => {
        await tx.deleteUpload(small.id);
        await tx.deleteUpload(large.id);
      });
      await expect(store.uploads.offset('gc', small.id)).rejects.toMatchObject({ key: 'BLOB_UPLOAD_UNKNOWN' });
      await expect(store.uploads.offset('gc', large.id)).rejects.toMatchObject({ key: 'BLOB_UPLOAD_UNKNOWN' });
      expect((await store.withRepository('gc', (tx) => tx.listUploads())).map((upload) => upload.id)).toEqual([empty.id]);
      expect(await store.withRepository('gc', (tx) => tx.listUploads())).toHaveLength(1);
    });
  });
});
