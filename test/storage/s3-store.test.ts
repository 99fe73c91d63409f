/**
 * What only the S3 store has to get right, on the run's S3: the tree in the bucket (readable by
 * tools, nothing left behind), one GET per sequential read, the objects of an upload session, the
 * multipart copy of large objects, garbage collection of sessions a dead replica left, and
 * failures of the object store reported as UNAVAILABLE without credentials. The behaviour shared
 * with the filesystem store is in store-contract.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { CreateMultipartUploadCommand, GetObjectCommand, ListMultipartUploadsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { RegistryError } from '../../src/oci/errors.js';
import { LocalCoordination, MemoryRecords } from '../../src/coordination/local-coordination.js';
import type { Locks, SharedRecords } from '../../src/coordination/coordination.js';
import type { S3StorageConfig } from '../../src/config/config.js';
import { createS3Client, type S3ClientOptions } from '../../src/storage/s3-client.js';
import { S3Store, type S3StoreOptions } from '../../src/storage/s3-store.js';
import { createBucket, emptyAndDeleteBucket, s3Client, s3Service } from '../helpers/services.js';
import { OCI_MANIFEST } from '../helpers/oci.js';

const MiB = 1024 * 1024;
const clients: S3Client[] = [];
const buckets: string[] = [];
let bucket = '';
let admin: S3Client;

beforeAll(async () => {
  bucket = await createBucket('s3store');
  buckets.push(bucket);
  admin = s3Client();
  clients.push(admin);
});
afterAll(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const name of buckets.splice(0)) await emptyAndDeleteBucket(name);
});

function settingsFor(overrides: Partial<S3StorageConfig> = {}): S3StorageConfig {
  const { endpoint, region, accessKey, secretKey } = s3Service();
  return { bucket, rootDirectory: `s3/${randomBytes(6).toString('hex')}`, region, endpoint, forcePathStyle: true, accessKey, secretKey, skipVerify: false, ...overrides };
}

function open(overrides: Partial<S3StorageConfig> = {}, options: Partial<S3StoreOptions> = {}, clientOptions: S3ClientOptions = {}) {
  const settings = settingsFor(overrides);
  const client = createS3Client(settings, clientOptions);
  clients.push(client);
  const coordination = options.coordination ?? new LocalCoordination();
  return { store: new S3Store({ client, settings, coordination, ...options }), client, settings, coordination, root: settings.rootDirectory };
}

/** Replicas of one store (same bucket and prefix, clients of their own) with the coordinations given. */
function replicas(...coordinations: LocalCoordination[]): S3Store[] {
  const settings = settingsFor();
  return coordinations.map((coordination) => {
    const client = createS3Client(settings);
    clients.push(client);
    return new S3Store({ client, settings, coordination });
  });
}

/**
 * A coordination whose locks exclude nobody: what replicas see once a lock has expired under a
 * holder that is still working (a partition from Redis, a stalled process). Storage must stay whole.
 */
class LapsedCoordination extends LocalCoordination {
  override readonly locks: Locks = { run: (_key, work) => work(), tryRun: (_key, work) => work(() => true) };
}

/** Counts the client's requests by command name. */
function countRequests(client: S3Client): Map<string, number> {
  const counts = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName);
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: `count-${randomBytes(4).toString('hex')}` },
  );
  return counts;
}

async function keysUnder(prefix: string): Promise<string[]> {
  const store = new S3Store({ client: admin, settings: { bucket, rootDirectory: '' }, coordination: new LocalCoordination() });
  return (await store.bucket.list(prefix)).map((object) => object.key).sort();
}

async function multipartKeys(prefix: string): Promise<string[]> {
  const page = await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return (page.Uploads ?? []).map((upload) => upload.Key!);
}

const body = (bytes: Buffer) => Readable.from([bytes]);

describe('S3Store', () => {
  it('keeps the OCI layout in the bucket under rootDirectory, and nothing else', async () => {
    const { store, root } = open();
    const layer = randomBytes(100_000);
    const digest = digestOf(layer);
    const { id } = await store.uploads.create('library/app');
    await store.uploads.commit('library/app', id, digest, body(layer));
    await store.updateIndex('library/app', (index) => void index.manifests.push({ mediaType: OCI_MANIFEST, digest: digest.value, size: layer.length }));
    await store.checkWritable();
    expect(await keysUnder('')).toEqual(expect.arrayContaining([`${root}/library/app/blobs/sha256/${digest.hex}`]));
    expect(await keysUnder(`${root}/`)).toEqual([`${root}/library/app/blobs/sha256/${digest.hex}`, `${root}/library/app/index.json`, `${root}/library/app/oci-layout`]);
    const layout = await admin.send(new GetObjectCommand({ Bucket: bucket, Key: `${root}/library/app/oci-layout` }));
    expect(JSON.parse(await layout.Body!.transformToString())).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = await admin.send(new GetObjectCommand({ Bucket: bucket, Key: `${root}/library/app/index.json` }));
    expect(JSON.parse(await index.Body!.transformToString())).toMatchObject({ schemaVersion: 2, manifests: [{ digest: digest.value }] });
  });

  it('serves the bucket root too, skipping what is not a repository', async () => {
    const own = await createBucket('s3root');
    buckets.push(own);
    const { store } = open({ bucket: own, rootDirectory: '' });
    await store.ensureRepository('team/app');
    await store.checkWritable();
    for (const key of ['notes/readme.txt', 'Bad_Name/index.json', '_berth/x/index.json', 'team/app/blobs/x/index.json', 'team/.uploads/index.json', 'zot/cache.db']) {
      await admin.send(new PutObjectCommand({ Bucket: own, Key: key, Body: '{}' }));
    }
    expect(await open({ bucket: own, rootDirectory: '' }).store.listRepositories()).toEqual(['team/app']);
  });

  it('refuses a rootDirectory that is not a plain key prefix', () => {
    for (const rootDirectory of ['/registry', 'registry/', 'a//b', '../x', 'a/./b']) {
      expect(() => open({ rootDirectory }), rootDirectory).toThrow(/rootDirectory/);
    }
  });

  it('reads a blob sequentially with one GET, and opens another only for a read elsewhere', async () => {
    const { store, client } = open();
    const bytes = randomBytes(20 * MiB + 11);
    const digest = digestOf(bytes);
    await store.uploads.commit('reads', (await store.uploads.create('reads')).id, digest, body(bytes));
    const counts = countRequests(client);
    const reader = await store.openBlob('reads', digest);
    const buffer = Buffer.alloc(256 * 1024);
    const hash = createHash('sha256');
    for (let position = 0; position < reader.size;) {
      const read = await reader.read(buffer, position);
      hash.update(buffer.subarray(0, read));
      position += read;
    }
    expect(hash.digest('hex')).toBe(digest.hex);
    expect(counts.get('GetObjectCommand')).toBe(1);
    expect(await reader.read(buffer, 1000)).toBe(buffer.length);
    expect(buffer.equals(bytes.subarray(1000, 1000 + buffer.length))).toBe(true);
    expect(await reader.read(buffer, 1000 + buffer.length)).toBe(buffer.length);
    expect(counts.get('GetObjectCommand')).toBe(2);
    await reader.close();
    await expect(reader.read(buffer, 0)).rejects.toThrow(/closed/);
  });

  it('keeps a session as a tail object and parts, replaces the tail, and leaves nothing after commit', async () => {
    const { store, root } = open();
    const pieces = [randomBytes(3 * MiB), randomBytes(3 * MiB), randomBytes(3 * MiB)];
    const { id } = await store.uploads.create('session');
    const prefix = `${root}/session/.uploads/${id}/`;
    expect(await keysUnder(prefix)).toEqual([`${prefix}created`]);
    // Each append writes a tail of a new (random) generation and removes the one before.
    const tails: string[] = [];
    for (const piece of pieces) {
      await store.uploads.append('session', id, body(piece));
      const keys = await keysUnder(prefix);
      expect(keys).toEqual([`${prefix}created`, expect.stringMatching(/\/tail-\d+$/)]);
      expect(tails).not.toContain(keys[1]);
      tails.push(keys[1]!);
    }
    expect(await multipartKeys(prefix)).toEqual([`${prefix}data`]);

    // A body cut off after a whole part keeps what arrived: a new tail replaces the old one.
    const lost = randomBytes(9 * MiB + 7);
    const cut = Readable.from(
      (async function* () {
        yield lost;
        throw new Error('aborted');
      })(),
    );
    await expect(store.uploads.append('session', id, cut)).rejects.toThrow('aborted');
    const kept = await keysUnder(prefix);
    expect(kept).toEqual([`${prefix}created`, expect.stringMatching(/\/tail-\d+$/)]);
    expect(tails).not.toContain(kept[1]);
    expect(await store.uploads.offset('session', id)).toBe(18 * MiB + 7);

    const digest = digestOf(Buffer.concat([...pieces, lost]));
    await store.uploads.commit('session', id, digest);
    expect(await keysUnder(`${root}/session/.uploads/`)).toEqual([]);
    expect(await multipartKeys(`${root}/session/.uploads/`)).toEqual([]);
    expect(await store.statBlob('session', digest)).toBe(18 * MiB + 7);
  });

  it('copies objects above the CopyObject limit part by part (commit and mount)', async () => {
    const { store } = open({}, { copy: { maxCopyObject: 6 * MiB, copyPartSize: 5 * MiB } });
    const bytes = randomBytes(12 * MiB + 3);
    const digest = digestOf(bytes);
    const { id } = await store.uploads.create('copy/from');
    await store.uploads.append('copy/from', id, body(bytes.subarray(0, 9 * MiB)));
    await store.uploads.commit('copy/from', id, digest, body(bytes.subarray(9 * MiB)));
    expect(await store.mountBlob('copy/from', 'copy/to', digest)).toBe(true);
    for (const name of ['copy/from', 'copy/to']) {
      const read = await store.readSmallBlob(name, digest);
      expect(read.length).toBe(bytes.length);
      expect(read.equals(bytes)).toBe(true);
    }
  });

  // In the commit: a monolithic push, hashed by node:crypto with no state to resume; the retry
  // then learns the digest by reading the assembled bytes back.
  it.each(['appended first', 'sent in the commit'])('goes on with a commit whose last step failed, and refuses appends meanwhile (bytes %s)', async (how) => {
    const { store, client } = open();
    let failCopies = 1;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'CopyObjectCommand' && failCopies-- > 0) throw Object.assign(new Error('injected'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } });
        return next(args);
      },
      { step: 'initialize', name: 'fail-copy' },
    );
    const bytes = randomBytes(10 * MiB);
    const digest = digestOf(bytes);
    const { id } = await store.uploads.create('retry');
    if (how === 'appended first') {
      await store.uploads.append('retry', id, body(bytes));
      await expect(store.uploads.commit('retry', id, digest)).rejects.toMatchObject({ key: 'UNAVAILABLE' });
    } else {
      await expect(store.uploads.commit('retry', id, digest, body(bytes))).rejects.toMatchObject({ key: 'UNAVAILABLE' });
    }
    expect(await store.statBlob('retry', digest)).toBeUndefined();
    await expect(store.uploads.append('retry', id, body(Buffer.from('more')))).rejects.toMatchObject({ key: 'BLOB_UPLOAD_INVALID' });
    expect(await store.uploads.commit('retry', id, digest)).toBe(bytes.length);
    expect((await store.readSmallBlob('retry', digest)).equals(bytes)).toBe(true);
  });

  it('lets garbage collection find and remove what a dead replica left: records, objects, multipart uploads', async () => {
    const { store, root } = open();
    await store.ensureRepository('gc');
    // A multipart upload whose session record never got saved (the replica died right after creating it).
    const orphan = '5c7b8a4e-0f3d-4e21-9b6a-3d2c1b0a9f8e';
    await admin.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `${root}/gc/.uploads/${orphan}/data` }));
    const { id } = await store.uploads.create('gc');
    await store.uploads.append('gc', id, body(randomBytes(9 * MiB)));
    const listed = await store.withRepository('gc', (tx) => tx.listUploads());
    expect(listed.map((upload) => upload.id).sort()).toEqual([orphan, id].sort());
    await store.withRepository('gc', async (tx) => {
      for (const upload of listed) await tx.deleteUpload(upload.id);
    });
    expect(await store.withRepository('gc', (tx) => tx.listUploads())).toEqual([]);
    expect(await multipartKeys(`${root}/gc/`)).toEqual([]);
    expect(await keysUnder(`${root}/gc/.uploads/`)).toEqual([]);
  });

  it('leaves a session alone while it is being appended to', async () => {
    const { store } = open();
    const { id } = await store.uploads.create('busy');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = Readable.from(
      (async function* () {
        yield Buffer.from('first ');
        await gate;
        yield Buffer.from('second');
      })(),
    );
    const appending = store.uploads.append('busy', id, slow);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await store.withRepository('busy', (tx) => tx.deleteUpload(id));
    release();
    expect(await appending).toBe(12);
    const digest = digestOf(Buffer.from('first second'));
    expect(await store.uploads.commit('busy', id, digest)).toBe(12);
  });

  it('reports an unreachable store or refused credentials as UNAVAILABLE, without the secret', async () => {
    const secret = 'do-not-print-this-secret-0000000000000000';
    const down = open({ endpoint: 'http://127.0.0.1:1', secretKey: secret });
    const refused = open({ secretKey: secret });
    for (const [store, pattern] of [
      [down.store, /unreachable: ECONNREFUSED/],
      [refused.store, /refused the credentials/],
    ] as const) {
      const attempts = [() => store.checkWritable(), () => store.statBlob('app', digestOf(Buffer.from('x'))), () => store.listRepositories(), () => store.uploads.create('app')];
      for (const attempt of attempts) {
        const error = await attempt().then(
          () => undefined,
          (reason: unknown) => reason,
        );
        expect(error).toBeInstanceOf(RegistryError);
        expect(error).toMatchObject({ key: 'UNAVAILABLE', status: 503 });
        expect((error as Error).message).toMatch(pattern);
        expect(JSON.stringify((error as RegistryError).toBody())).not.toContain(secret);
        expect(String((error as Error).message) + JSON.stringify(error)).not.toContain(secret);
      }
    }
  });

  it('hashes a one-request upload natively; a wrong digest leaves the session empty and usable', async () => {
    const { store } = open();
    const bytes = randomBytes(11 * MiB); // a full 8 MiB part and a remainder
    const session = await store.uploads.create('single');
    const wrong = digestOf(Buffer.from('not these bytes'));
    await expect(store.uploads.commit('single', session.id, wrong, body(bytes))).rejects.toMatchObject({
      key: 'DIGEST_INVALID',
      detail: { reason: `uploaded content has digest sha256:${digestOf(bytes).hex}` },
    });
    expect(await store.uploads.offset('single', session.id)).toBe(0);
    expect(await store.statBlob('single', wrong)).toBeUndefined();
    // The same session then takes the bytes in two appends (part numbers start over) and commits.
    await store.uploads.append('single', session.id, body(bytes.subarray(0, 1000)));
    await store.uploads.append('single', session.id, body(bytes.subarray(1000)));
    expect(await store.uploads.commit('single', session.id, digestOf(bytes))).toBe(bytes.length);
    const reader = await store.openBlob('single', digestOf(bytes));
    const read = Buffer.alloc(bytes.length);
    for (let at = 0; at < bytes.length;) at += await reader.read(read.subarray(at), at);
    await reader.close();
    expect(read.equals(bytes)).toBe(true);
  });

  it('gives up on a store that accepts requests and never answers (a full cluster), within the idle timeout', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const { store } = open({ endpoint: `http://127.0.0.1:${port}` }, {}, { idleTimeoutMs: 300 });
      const started = Date.now();
      const error = await store.statBlob('app', digestOf(Buffer.from('x'))).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toMatchObject({ key: 'UNAVAILABLE', status: 503 });
      expect((error as Error).message).toMatch(/object storage is unreachable/);
      // The SDK retries (3 attempts in all): still seconds, not forever.
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  describe('when a lock has lapsed under a replica still working', () => {
    const entry = (digest: string) => ({ mediaType: OCI_MANIFEST, digest, size: 1 });

    it('never loses an index.json update: the late write fails instead of overwriting', async () => {
      const coordination = new LapsedCoordination();
      const [a, b] = replicas(coordination, coordination) as [S3Store, S3Store];
      await a.ensureRepository('lapsed');
      const first = digestOf(Buffer.from('a')).value;
      const second = digestOf(Buffer.from('b')).value;
      let entered!: () => void;
      let resume!: () => void;
      const inside = new Promise<void>((resolve) => (entered = resolve));
      const paused = new Promise<void>((resolve) => (resume = resolve));
      const slow = a.updateIndex('lapsed', async (index) => {
        index.manifests.push(entry(first));
        entered();
        await paused;
      });
      await inside;
      await b.updateIndex('lapsed', (index) => void index.manifests.push(entry(second)));
      resume();
      await expect(slow).rejects.toMatchObject({ key: 'UNAVAILABLE' });
      expect((await a.readIndex('lapsed')).manifests.map((descriptor) => descriptor.digest)).toEqual([second]);
    });

    it('never creates over an index.json another replica just created', async () => {
      const [a, b] = replicas(new LapsedCoordination(), new LapsedCoordination()) as [S3Store, S3Store];
      await a.updateIndex('created', (index) => void index.manifests.push(entry(digestOf(Buffer.from('kept')).value)));
      // B saw no index.json (HEAD before A's write) and creates one: it must not replace A's.
      const head = b.bucket.head.bind(b.bucket);
      b.bucket.head = async (key) => (key.endsWith('/index.json') ? undefined : head(key));
      await b.ensureRepository('created');
      expect((await b.readIndex('created')).manifests).toHaveLength(1);
    });

    it('never commits bytes other than those the saved digest state describes', async () => {
      // Two replicas append to one session at once; A's record is saved last, after B wrote its tail.
      const shared = new MemoryRecords<unknown>();
      let gate: Promise<void> | undefined;
      let reached!: () => void;
      const atSave = new Promise<void>((resolve) => (reached = resolve));
      const gated: SharedRecords<unknown> = {
        get: (key) => shared.get(key),
        set: async (key, value, options) => {
          if (gate) {
            reached();
            await gate;
          }
          await shared.set(key, value, options);
        },
        take: (key) => shared.take(key),
        entries: () => shared.entries(),
      };
      class Shared extends LapsedCoordination {
        constructor(records: SharedRecords<unknown>) {
          super(() => records);
        }
      }
      const [a, b] = replicas(new Shared(gated), new Shared(shared)) as [S3Store, S3Store];
      const { id } = await b.uploads.create('tails');
      const mine = Buffer.alloc(1000, 'a');
      const theirs = Buffer.alloc(1000, 'b');
      let open!: () => void;
      gate = new Promise<void>((resolve) => (open = resolve));
      const appending = a.uploads.append('tails', id, body(mine));
      await atSave;
      expect(await b.uploads.append('tails', id, body(theirs))).toBe(1000);
      gate = undefined;
      open();
      expect(await appending).toBe(1000);
      const digest = digestOf(mine);
      const committed = await b.uploads.commit('tails', id, digest).then(
        () => true,
        () => false,
      );
      if (committed) expect(digestOf(await b.readSmallBlob('tails', digest)).value).toBe(digest.value);
    });
  });

  it('makes a mounted blob new to garbage collection, even where the target held it already', async () => {
    const { store } = open();
    const bytes = randomBytes(1000);
    const digest = digestOf(bytes);
    for (const name of ['mount/from', 'mount/to']) await store.uploads.commit(name, (await store.uploads.create(name)).id, digest, body(bytes));
    const before = (await store.listBlobs('mount/to'))[0]!.modifiedMs;
    // S3 times are in whole seconds.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await store.mountBlob('mount/from', 'mount/to', digest)).toBe(true);
    expect((await store.listBlobs('mount/to'))[0]!.modifiedMs).toBeGreaterThan(before);
    expect(await store.mountBlob('mount/to', 'mount/to', digest)).toBe(true);
  });

  it('destroys the GetObject stream when a reader is closed mid-blob (a client that went away)', async () => {
    const { store, client } = open();
    const bytes = randomBytes(4 * MiB);
    const digest = digestOf(bytes);
    await store.uploads.commit('abort', (await store.uploads.create('abort')).id, digest, body(bytes));
    const streams: Readable[] = [];
    client.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args);
        const output = result.output as { Body?: unknown };
        if (output.Body instanceof Readable) streams.push(output.Body);
        return result;
      },
      { step: 'initialize', name: 'capture-body' },
    );
    const reader = await store.openBlob('abort', digest);
    const buffer = Buffer.alloc(64 * 1024);
    expect(await reader.read(buffer, 100)).toBe(buffer.length);
    expect(buffer.equals(bytes.subarray(100, 100 + buffer.length))).toBe(true);
    expect(await reader.read(buffer, bytes.length - 10)).toBe(10);
    expect(buffer.subarray(0, 10).equals(bytes.subarray(bytes.length - 10))).toBe(true);
    await reader.close();
    expect(streams).toHaveLength(2);
    expect(streams.every((stream) => stream.destroyed)).toBe(true);
  });

  it('logs a failure S3 answered (not UNAVAILABLE) without the signed request it came with', async () => {
    const { store, root, settings } = open();
    const key = `${root}/small`;
    await store.bucket.put(key, 'abc');
    const error = await store.bucket
      .call((client) => client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=100-' })))
      .then(
        () => undefined,
        (reason: unknown) => reason,
      );
    expect(error).toMatchObject({ name: 'InvalidRange' });
    // What the central error handler does with an unexpected error: request.log.error({ err }).
    const lines: string[] = [];
    const log = pino({}, { write: (line: string) => void lines.push(line) });
    log.error({ err: error }, 'request failed');
    expect(lines.join('')).toContain('InvalidRange');
    for (const secret of [settings.accessKey!, settings.secretKey!, 'Signature=']) expect(lines.join('')).not.toContain(secret);
  });
});
