/**
 * Disk full, on a real small file system: an 8 MiB tmpfs mounted for this file (the tests run as
 * root, as `npm test` on CI does; a failed mount fails the file with the reason). The storage root
 * lives on it, and a filler file next to it takes the free space away page by page. Checks that a
 * push which does not fit fails with 507 (ENOSPC → STORAGE_FULL in the error table) and a logged
 * error, that nothing half-written becomes visible (no blob, no partial file under blobs/, the
 * upload session consistent and resumable, index.json untouched), that reads go on, and that
 * pushes work again once space is freed.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, readdir, rm, stat, statfs, truncate, unlink, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { buildImage, type Image } from '../helpers/oci-layout.js';
import { pushBlobInChunks, pushImage, putManifest } from '../helpers/registry-api.js';
import { expectBlob, expectRegistryHolds } from '../helpers/registry-assertions.js';
import { indexesSettled } from '../helpers/stored-files.js';
import { sha256 } from '../helpers/oci.js';

const run = promisify(execFile);
const PAGE = 4096;
const MiB = 1024 * 1024;

let mountPoint: string | undefined;
let mounted = false;
let server: TestServer | undefined;
let root: string;
let filler: string | undefined;

beforeAll(async () => {
  mountPoint = await mkdtemp(path.join(tmpdir(), 'berth-disk-full-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', mountPoint]);
  } catch (error) {
    throw new Error(`this test needs a small real file system: mounting a tmpfs at ${mountPoint} failed (run the tests as root): ${(error as Error).message}`, { cause: error });
  }
  mounted = true;
  root = path.join(mountPoint, 'storage');
  filler = path.join(mountPoint, 'filler');
  server = await startBerth({ root, captureLog: true });
});

// A test that fails with the disk full must not take the next ones down with it.
afterEach(async () => {
  if (filler) await rm(filler, { force: true });
});

afterAll(async () => {
  await server?.close();
  if (mounted) {
    // Lazy as a last resort: a file left open must not keep the mount (and the test run) hanging.
    await run('umount', [mountPoint!]).catch(() => run('umount', ['-l', mountPoint!]));
  }
  if (mountPoint) await rm(mountPoint, { recursive: true, force: true });
});

async function freeBytes(): Promise<number> {
  const info = await statfs(mountPoint!);
  return info.bavail * info.bsize;
}

/** Takes every free page, then gives `leave` bytes (rounded to pages) back. */
async function fillDisk(leave: number): Promise<void> {
  const handle = await open(filler!, 'a', 0o600);
  try {
    for (const size of [MiB, 64 * 1024, PAGE]) {
      const chunk = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          await handle.write(chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
          break;
        }
      }
    }
  } finally {
    await handle.close();
  }
  const { size } = await stat(filler!);
  // A failed write may have left a partial page; round down to whole pages, then free `leave`.
  await truncate(filler!, Math.floor(size / PAGE) * PAGE - Math.ceil(leave / PAGE) * PAGE);
  expect(await freeBytes()).toBe(Math.ceil(leave / PAGE) * PAGE);
}

async function freeDisk(): Promise<void> {
  await unlink(filler!);
}

/** Every file under <root>/<repo>/blobs/sha256/ has content whose digest is its name, and nothing else is there. */
async function expectOnlyWholeBlobs(repo: string): Promise<string[]> {
  const folder = path.join(root, repo, 'blobs', 'sha256');
  const names = await readdir(folder);
  for (const name of names) {
    expect(name, `stray file in ${folder}`).toMatch(/^[0-9a-f]{64}$/);
    expect(sha256(await readFile(path.join(folder, name))), `content of ${folder}/${name}`).toBe(`sha256:${name}`);
  }
  return names;
}

async function errorBody(response: Response): Promise<unknown> {
  return JSON.parse(await response.text()) as unknown;
}

const STORAGE_FULL_BODY = { errors: [{ code: 'UNKNOWN', message: 'insufficient storage' }] };
/** A request that meets the full disk must be answered: without this, a missing answer (a defect this file found) would only show as the test's timeout. */
const answerWithin = () => AbortSignal.timeout(10_000);

describe('a full disk', () => {
  let before: Image;

  beforeAll(async () => {
    before = await buildImage({ layers: 2, maxFileBytes: 32 * 1024, label: 'before' });
    await pushImage(server!.url, 'full/app', 'before', { image: before, chunkSize: 16 * 1024 });
  });

  it('fails a blob push that does not fit with 507, shows nothing of it, keeps serving reads, and takes it once space is freed', async () => {
    const url = server!.url;
    const big = randomBytes(3 * MiB);
    const digest = sha256(big);
    await fillDisk(2 * MiB);

    // Chunked: the chunk that meets the full disk fails; the session keeps what fitted before it.
    const started = await fetch(`${url}/v2/full/app/blobs/uploads/`, { method: 'POST' });
    expect(started.status).toBe(202);
    const session = new URL(started.headers.get('location')!, url);
    const sessionFile = path.join(root, 'full/app/.uploads', session.pathname.split('/').at(-1)!);
    const chunk = 512 * 1024;
    let offset = 0;
    let failed: Response | undefined;
    for (; offset < big.length; offset += chunk) {
      const response = await fetch(session, {
        method: 'PATCH',
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + chunk - 1}` },
        body: big.subarray(offset, offset + chunk),
        signal: answerWithin(),
      });
      if (response.status !== 202) {
        failed = response;
        break;
      }
      await response.arrayBuffer();
    }
    expect(failed?.status, 'a PATCH beyond the free space').toBe(507);
    expect(await errorBody(failed!)).toEqual(STORAGE_FULL_BODY);
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThan(big.length);
    // Consistent: the session holds exactly the chunks that were acknowledged, and says so.
    const status = await fetch(session);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe(`0-${offset - 1}`);
    expect((await stat(sessionFile)).size).toBe(offset);
    expect((await readFile(sessionFile)).equals(big.subarray(0, offset))).toBe(true);

    // Monolithic: the whole body fails, and its session is gone.
    const uploadsBefore = await readdir(path.join(root, 'full/app/.uploads'));
    const monolithic = await fetch(`${url}/v2/full/app/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: big,
      signal: answerWithin(),
    });
    expect(monolithic.status).toBe(507);
    expect(await errorBody(monolithic)).toEqual(STORAGE_FULL_BODY);
    expect((await readdir(path.join(root, 'full/app/.uploads'))).sort()).toEqual(uploadsBefore.sort());

    // Nothing half-written is visible; what was there is still served.
    expect((await fetch(`${url}/v2/full/app/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
    expect(await expectOnlyWholeBlobs('full/app')).not.toContain(digest.slice(7));
    await expectRegistryHolds(url, 'full/app', 'before', before);
    expect(await (await fetch(`${url}/v2/full/app/tags/list`)).json()).toEqual({ name: 'full/app', tags: ['before'] });
    // The error is logged at level error, naming ENOSPC, on the request that met it.
    const lines = server!
      .logText()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { level: number; reqId?: string; msg: string; err?: { code?: string; message?: string }; req?: { method: string; url: string } });
    const failures = lines.filter((line) => line.level === 50 && line.err?.code === 'ENOSPC');
    expect(failures.map((line) => [line.msg, line.err?.message])).toContainEqual(['storage full: no space left on the device; the write was undone', 'ENOSPC: no space left on device, write']);
    const failedRequests = failures.map((failure) => lines.find((line) => line.reqId === failure.reqId && line.req)?.req);
    expect(failedRequests).toContainEqual({ method: 'PATCH', url: session.pathname, remoteAddress: '127.0.0.1' });
    expect(failedRequests).toContainEqual({ method: 'POST', url: `/v2/full/app/blobs/uploads/?digest=${digest}`, remoteAddress: '127.0.0.1' });

    // Space back: the same session resumes from where it stopped, and the blob is stored.
    await freeDisk();
    const rest = await fetch(session, {
      method: 'PATCH',
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${big.length - 1}` },
      body: big.subarray(offset),
    });
    expect(rest.status).toBe(202);
    session.searchParams.set('digest', digest);
    expect((await fetch(session, { method: 'PUT' })).status).toBe(201);
    await expectBlob(url, 'full/app', digest, big);
    await expectOnlyWholeBlobs('full/app');
  });

  it('fails a manifest push whose index change cannot be written with 507 and leaves the old index.json intact', async () => {
    const url = server!.url;
    const image = await buildImage({ layers: 1, maxFileBytes: 16 * 1024, label: 'blocked' });
    for (const item of [image.config, ...image.layers]) await pushBlobInChunks(url, 'full/app', item, 64 * 1024);
    // The index journal folded (index.json holds every push): the push below must start a new one.
    await indexesSettled(root);
    const indexFile = path.join(root, 'full/app/index.json');
    const indexBefore = await readFile(indexFile);
    const repoBefore = (await readdir(path.join(root, 'full/app'))).sort();
    const uploadsBefore = (await readdir(path.join(root, 'full/app/.uploads'))).sort();

    // One free page: enough for the manifest's blob file, not for the index journal's new file.
    await fillDisk(PAGE);
    const put = await fetch(`${url}/v2/full/app/manifests/blocked`, { method: 'PUT', headers: { 'content-type': image.manifest.mediaType }, body: image.manifest.bytes, signal: answerWithin() });
    expect(put.status).toBe(507);
    expect(await errorBody(put)).toEqual(STORAGE_FULL_BODY);
    // It was the index journal that failed: the manifest's own bytes had fitted (whole, and unreferenced).
    expect((await readFile(path.join(root, 'full/app/blobs/sha256', image.manifest.digest.slice(7)))).equals(image.manifest.bytes)).toBe(true);
    expect((await readFile(indexFile)).equals(indexBefore)).toBe(true);
    expect((await readdir(path.join(root, 'full/app'))).sort(), 'no temp file left beside index.json').toEqual(repoBefore);
    expect((await readdir(path.join(root, 'full/app/.uploads'))).sort(), 'nor in .uploads').toEqual(uploadsBefore);
    await expectOnlyWholeBlobs('full/app');
    for (const reference of ['blocked', image.manifest.digest]) {
      expect((await fetch(`${url}/v2/full/app/manifests/${reference}`, { method: 'HEAD' })).status, reference).toBe(404);
    }
    await expectRegistryHolds(url, 'full/app', 'before', before);

    await freeDisk();
    expect(await putManifest(url, 'full/app', 'blocked', image.manifest)).toBe(image.manifest.digest);
    await expectRegistryHolds(url, 'full/app', 'blocked', image);
    await expectRegistryHolds(url, 'full/app', 'before', before);
  });

  it('keeps taking blobs after a commit whose dedupe-log append met the full disk', async () => {
    const url = server!.url;
    // The log's next append must take a new page: pad it to a page boundary with a valid line.
    const log = path.join(root, '_berth/dedupe.jsonl');
    const entry = `{"add":"${sha256(Buffer.from('padding'))}","repository":"full/app"}`;
    const size = (await stat(log)).size;
    const pad = PAGE - ((size + entry.length + 1) % PAGE);
    await appendFile(log, `${entry}${' '.repeat(pad % PAGE)}\n`);
    expect((await stat(log)).size % PAGE).toBe(0);

    // The data is in the session before the disk fills; only the commit's bookkeeping needs space.
    const blob = randomBytes(20_000);
    const started = await fetch(`${url}/v2/full/log/blobs/uploads/`, { method: 'POST' });
    const session = new URL(started.headers.get('location')!, url);
    expect((await fetch(session, { method: 'PATCH', headers: { 'content-range': `0-${blob.length - 1}` }, body: blob })).status).toBe(202);
    await fillDisk(0);
    session.searchParams.set('digest', sha256(blob));
    const commit = await fetch(session, { method: 'PUT', signal: answerWithin() });
    expect(commit.status).toBe(507);
    expect(await errorBody(commit)).toEqual(STORAGE_FULL_BODY);
    await expectOnlyWholeBlobs('full/log');

    await freeDisk();
    const next = randomBytes(30_000);
    const item = { mediaType: 'application/octet-stream', digest: sha256(next), size: next.length, bytes: next };
    await pushBlobInChunks(url, 'full/log', item, 16 * 1024);
    await expectBlob(url, 'full/log', item.digest, next);
    // And a blob another repository holds is still linked, not copied.
    await pushBlobInChunks(url, 'full/other', item, 16 * 1024);
    expect((await stat(path.join(root, 'full/other/blobs/sha256', item.digest.slice(7)))).ino).toBe((await stat(path.join(root, 'full/log/blobs/sha256', item.digest.slice(7)))).ino);
  });

  it('never commits a blob whose write the full disk cut short, even when space comes back mid-request', async () => {
    const url = server!.url;
    const blob = randomBytes(3 * MiB);
    await fillDisk(1.25 * MiB);
    const started = await fetch(`${url}/v2/full/short/blobs/uploads/`, { method: 'POST' });
    const session = new URL(started.headers.get('location')!, url);
    // One streamed PATCH: the second MiB only partly fits (a short write, no error), then the
    // space comes back before the third MiB arrives.
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent === 2 * MiB) {
          await new Promise((resolve) => setTimeout(resolve, 300));
          await freeDisk();
        }
        if (sent >= blob.length) return controller.close();
        controller.enqueue(blob.subarray(sent, sent + MiB));
        sent += MiB;
        if (sent === MiB) await new Promise((resolve) => setTimeout(resolve, 100));
      },
    });
    const patch = await fetch(session, { method: 'PATCH', body, duplex: 'half', signal: answerWithin() } as RequestInit);
    expect(patch.status).toBe(507);
    const status = await fetch(session);
    const held = Number(/^0-(\d+)$/.exec(status.headers.get('range') ?? '')?.[1] ?? -1) + 1;
    expect(held).toBeLessThan(blob.length);
    session.searchParams.set('digest', sha256(blob));
    const commit = await fetch(session, { method: 'PUT' });
    expect(commit.status).toBe(400);
    expect((await fetch(`${url}/v2/full/short/blobs/${sha256(blob)}`, { method: 'HEAD' })).status).toBe(404);
    await expectOnlyWholeBlobs('full/short');
  });
});
