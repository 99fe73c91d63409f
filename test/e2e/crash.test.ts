/**
 * Crash safety with real processes: `berth serve` runs as a child process while 20 clients push
 * multi-layer images (POST, chunked PATCHes, PUT ?digest=, PUT manifest) to five repositories that
 * share a base layer (so dedupe hard links are made under fire too). The server is killed with
 * SIGKILL at random moments while requests are in flight, several times, and restarted on the same
 * storage; the clients carry on the way a registry client does after a dropped connection: half of
 * them resume their upload session (GET the upload URL for its Range, PATCH the rest, PUT), the
 * other half abandon it and start a new one, leaving it to garbage collection.
 *
 * Afterwards, with the server stopped: every blob file's bytes hash to its name, every index.json
 * and oci-layout parses, `berth gc` (gcDelay 0) leaves no upload session behind, `berth scrub`
 * reports every image ok (exit 0), and a restarted server serves every push that was acknowledged
 * (201 on its manifest) byte for byte, by tag and by digest.
 *
 * A SIGKILL loses no page cache, so this proves the ordering of writes and renames (what a process
 * crash can expose), not the fsyncs (which only a power cut would).
 */
import { createHash, randomInt } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllBerthProcesses, runBerthCommand, startBerthProcess, writeConfig, type BerthProcess } from '../helpers/berth-process.js';
import { buildImage, buildLayer, type ContentBlob, type Image, type Layer } from '../helpers/oci-layout.js';
import { expectRegistryHolds } from '../helpers/registry-assertions.js';

const WORKERS = 20;
const ROUNDS = 5;
const REPOSITORIES = ['crash/r0', 'crash/r1', 'crash/r2', 'crash/nested/r3', 'crash/nested/r4'];
const CHUNK = 16 * 1024;

let root: string;
let server: BerthProcess | undefined;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'berth-crash-'));
});

afterAll(async () => {
  await killAllBerthProcesses();
  if (root) await rm(root, { recursive: true, force: true });
});

/** A request that got no answer because the server died under it (connection refused or reset). */
class Interrupted extends Error {}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

interface Pushed {
  repository: string;
  tag: string;
  image: Image;
}

/** Where the clients send requests: a running server, or (between a kill and a restart) a wait. */
class Target {
  inFlight = 0;
  private up!: Promise<string>;
  private markUp!: (url: string) => void;

  constructor() {
    this.down();
  }

  /** From now on requests wait for `serving` (the ones in flight go on to the old server and fail). */
  down(): void {
    this.up = new Promise((resolve) => (this.markUp = resolve));
  }

  serving(url: string): void {
    this.markUp(url);
  }

  async call(pathAndQuery: string, init: RequestInit = {}): Promise<Answer> {
    const url = await this.up;
    this.inFlight += 1;
    try {
      const response = await fetch(`${url}${pathAndQuery}`, { ...init, signal: AbortSignal.timeout(20_000) });
      return { status: response.status, headers: response.headers, text: await response.text() };
    } catch (error) {
      throw new Interrupted(`${init.method ?? 'GET'} ${pathAndQuery}: ${String((error as Error).cause ?? error)}`);
    } finally {
      this.inFlight -= 1;
    }
  }
}

interface Stats {
  interrupted: number;
  /** Sessions that, after a restart, reported bytes written before the kill and were finished from there. */
  resumed: number;
  abandoned: number;
}

function unexpected(step: string, answer: Answer): Error {
  return new Error(`${step}: unexpected HTTP ${answer.status} ${answer.text}`);
}

/** The next offset from a `Range: 0-<last>` answer ("0-0" is also what an empty session says). */
function nextOffset(answer: Answer): number {
  const match = /^0-(\d+)$/.exec(answer.headers.get('range') ?? '');
  if (!match) throw unexpected('Range header', answer);
  const last = Number(match[1]);
  return last === 0 ? 0 : last + 1;
}

/**
 * Pushes one blob in chunks, surviving crashes. `resume`: after an interruption, ask the session
 * where it stands and go on from there (distribution-spec "Resuming an upload"); otherwise abandon
 * the session (it stays in .uploads) and start a new one.
 */
async function pushBlob(target: Target, repository: string, blob: ContentBlob, resume: boolean, stats: Stats): Promise<void> {
  let session: string | undefined;
  let offset = 0;
  let afterCrash = false;
  let resumedFrom = 0;
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      if (session === undefined) {
        const started = await target.call(`/v2/${repository}/blobs/uploads/`, { method: 'POST' });
        if (started.status !== 202) throw unexpected('POST upload', started);
        session = started.headers.get('location')!;
        offset = 0;
      } else if (afterCrash) {
        const status = await target.call(session);
        if (status.status === 404) {
          // The commit may have happened with its answer lost: then the blob is simply there.
          if ((await target.call(`/v2/${repository}/blobs/${blob.digest}`, { method: 'HEAD' })).status === 200) return;
          session = undefined;
          continue;
        }
        if (status.status !== 204) throw unexpected('GET upload status', status);
        offset = nextOffset(status);
        resumedFrom = offset;
      }
      afterCrash = false;
      while (offset < blob.size) {
        const end = Math.min(offset + CHUNK, blob.size);
        const patched = await target.call(session, {
          method: 'PATCH',
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${end - 1}` },
          body: blob.bytes.subarray(offset, end),
        });
        if (patched.status === 416) {
          // "0-0" was a session holding one byte: the answer says where it really stands.
          offset = (JSON.parse(patched.text) as { errors: Array<{ detail: { offset: number } }> }).errors[0]!.detail.offset;
          continue;
        }
        if (patched.status !== 202) throw unexpected('PATCH', patched);
        offset = nextOffset(patched);
        session = patched.headers.get('location')!;
      }
      const finished = await target.call(`${session}?digest=${blob.digest}`, { method: 'PUT' });
      if (finished.status !== 201) throw unexpected('PUT ?digest=', finished);
      if (resumedFrom > 0) stats.resumed += 1;
      return;
    } catch (error) {
      if (!(error instanceof Interrupted)) throw error;
      stats.interrupted += 1;
      afterCrash = true;
      if (!resume && session !== undefined) {
        stats.abandoned += 1;
        session = undefined;
      }
    }
  }
  throw new Error(`gave up pushing ${blob.digest} to ${repository}`);
}

/** Pushes an image's blobs, then its manifest until a 201; returns once the push is acknowledged. */
async function pushImage(target: Target, repository: string, tag: string, image: Image, resume: boolean, stats: Stats): Promise<void> {
  for (const blob of [image.config, ...image.layers]) await pushBlob(target, repository, blob, resume, stats);
  for (;;) {
    try {
      const put = await target.call(`/v2/${repository}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': image.manifest.mediaType }, body: image.manifest.bytes });
      if (put.status !== 201) throw unexpected(`PUT manifest ${repository}:${tag}`, put);
      expect(put.headers.get('docker-content-digest')).toBe(image.manifest.digest);
      return;
    } catch (error) {
      if (!(error instanceof Interrupted)) throw error;
      stats.interrupted += 1;
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every file under the storage root except Berth's own `_berth/`, as paths relative to it. */
async function walk(folder: string, prefix = ''): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (relative === '_berth') continue;
    if (entry.isDirectory()) files.push(...(await walk(path.join(folder, entry.name), relative)));
    else files.push(relative);
  }
  return files;
}

describe('crash safety', () => {
  it('loses and corrupts nothing acknowledged when the server is killed with SIGKILL during 20 concurrent pushes', { timeout: 90_000 }, async () => {
    const target = new Target();
    const stats: Stats = { interrupted: 0, resumed: 0, abandoned: 0 };
    const acknowledged: Pushed[] = [];
    const base: Layer = await buildLayer('berth-crash/base', 2, 48 * 1024);
    let stopping = false;
    const failures: unknown[] = [];

    server = await startBerthProcess(root);
    target.serving(server.url);
    const workers = Array.from({ length: WORKERS }, async (_, worker) => {
      try {
        for (let n = 0; !stopping; n++) {
          const repository = REPOSITORIES[worker % REPOSITORIES.length]!;
          const tag = `w${worker}-${n}`;
          const image = await buildImage({ layers: 3, filesPerLayer: 2, maxFileBytes: 48 * 1024, label: `${worker}-${n}`, baseLayers: [base] });
          await pushImage(target, repository, tag, image, worker % 2 === 0, stats);
          acknowledged.push({ repository, tag, image });
        }
      } catch (error) {
        failures.push(error);
        stopping = true;
      }
    });

    const inFlightAtKill: number[] = [];
    for (let round = 0; round < ROUNDS && !stopping; round++) {
      await sleep(randomInt(150, 900));
      for (let waited = 0; target.inFlight < WORKERS / 2 && waited < 5_000; waited += 5) await sleep(5);
      target.down();
      inFlightAtKill.push(target.inFlight);
      await server.kill9();
      server = await startBerthProcess(root);
      target.serving(server.url);
    }
    await sleep(300);
    stopping = true;
    await Promise.all(workers);
    expect(failures, String(failures[0])).toEqual([]);
    expect(await server.stop(), server.output()).toBe(0);
    server = undefined;

    // Each kill hit requests in flight; both ways of carrying on after a crash happened.
    expect(inFlightAtKill).toHaveLength(ROUNDS);
    for (const count of inFlightAtKill) expect(count).toBeGreaterThan(0);
    expect(stats.interrupted).toBeGreaterThanOrEqual(ROUNDS);
    expect(stats.resumed, JSON.stringify(stats)).toBeGreaterThan(0);
    expect(stats.abandoned, JSON.stringify(stats)).toBeGreaterThan(0);
    expect(acknowledged.length).toBeGreaterThan(WORKERS);

    // The files: blobs named by their content, whole index.json and oci-layout, nothing else.
    const files = await walk(root);
    const repositories = files.filter((file) => file.endsWith('/index.json')).map((file) => file.slice(0, -'/index.json'.length));
    expect(repositories.sort()).toEqual([...REPOSITORIES].sort());
    const strays: string[] = [];
    let uploads = 0;
    for (const file of files) {
      const repository = repositories.filter((name) => file.startsWith(`${name}/`)).sort((a, b) => b.length - a.length)[0];
      const inside = repository === undefined ? file : file.slice(repository.length + 1);
      const bytes = await readFile(path.join(root, file));
      if (inside === 'index.json') {
        const index = JSON.parse(bytes.toString('utf8')) as { schemaVersion: number; manifests: unknown[] };
        expect(index.schemaVersion, file).toBe(2);
        expect(Array.isArray(index.manifests), file).toBe(true);
      } else if (inside === 'oci-layout') {
        expect(bytes.toString('utf8'), file).toBe('{"imageLayoutVersion":"1.0.0"}');
      } else if (/^blobs\/sha256\/[0-9a-f]{64}$/.test(inside)) {
        expect(createHash('sha256').update(bytes).digest('hex'), `content of ${file}`).toBe(inside.slice('blobs/sha256/'.length));
      } else if (/^\.uploads\/[0-9a-f-]{36}$/.test(inside)) {
        uploads += 1;
      } else {
        strays.push(file);
      }
    }
    expect(strays, 'files that are neither blobs, index.json, oci-layout nor upload sessions').toEqual([]);
    expect(uploads, 'abandoned sessions are left for garbage collection').toBeGreaterThan(0);

    // berth gc with gcDelay 0 removes every unfinished upload; berth scrub finds every image ok.
    const gcConfig = await writeConfig(root, { storage: { gcDelay: '0s' } });
    try {
      const gc = await runBerthCommand('gc', gcConfig.file);
      expect(gc.code, gc.stdout + gc.stderr).toBe(0);
      expect(gc.stdout).toMatch(new RegExp(`removed 0 tags, 0 manifests, \\d+ blobs, ${uploads} uploads`));
      for (const repository of REPOSITORIES) expect(await readdir(path.join(root, repository, '.uploads')), repository).toEqual([]);
      const scrub = await runBerthCommand('scrub', gcConfig.file);
      expect(scrub.code, scrub.stdout + scrub.stderr).toBe(0);
      const summary = /^(\d+) images checked, 0 affected$/m.exec(scrub.stdout);
      expect(summary, scrub.stdout).not.toBeNull();
      expect(Number(summary![1])).toBe(acknowledged.length);
    } finally {
      await gcConfig.remove();
    }

    // Every acknowledged push is served whole, by tag and by digest, after one more restart.
    server = await startBerthProcess(root);
    for (const pushed of acknowledged) await expectRegistryHolds(server.url, pushed.repository, pushed.tag, pushed.image);
    expect(await server.stop()).toBe(0);
    server = undefined;
  });
});
