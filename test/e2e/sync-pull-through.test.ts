/**
 * The pull-through cache end to end: Berth with an on-demand upstream (Debian's docker-registry,
 * behind a proxy that counts and can cut its answers) serves what it does not hold from the
 * upstream, stores it as Berth, and then serves it alone; multi-arch indexes with all their
 * children; one upstream fetch per blob under 8 concurrent pulls; a cut or forged blob never
 * stored; a tag rechecked only after manifestCheckInterval, the local copy served when the upstream
 * is down; reads authorized against the local repository before anything is fetched; skopeo pulls.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDigest } from '../../src/oci/digest.js';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { buildImage } from '../helpers/oci-layout.js';
import { OCI_INDEX, OCI_MANIFEST, sha256 } from '../helpers/oci.js';
import { MANIFEST_ACCEPT, errorCode, pushImage, putManifest, type PushedImage } from '../helpers/registry-api.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { eventually } from '../helpers/eventually.js';
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.js';
import { startDockerRegistry, startTokenServer, upstreamHeaders, type UpstreamRegistry } from '../helpers/upstream-registry.js';

const get = (url: string, headers: Record<string, string> = {}) => fetch(url, { headers: { accept: MANIFEST_ACCEPT, ...headers } });
const bytesOf = async (response: Response) => Buffer.from(await response.arrayBuffer());
/** How a download ended: `complete <sha256>`, `cut` (the body failed), or `status <n>`. */
const pullOutcome = (url: string) =>
  get(url)
    .then(async (answer) => (answer.status === 200 ? `complete ${sha256(await bytesOf(answer))}` : `status ${answer.status}`))
    .catch(() => 'cut');

describe('pull-through cache (extensions.sync onDemand)', () => {
  let upstream: UpstreamRegistry;
  let proxy: CountingProxy;
  let berth: TestServer;
  let alpine: PushedImage;
  let auditFile: string;

  beforeAll(async () => {
    upstream = await startDockerRegistry();
    proxy = await startCountingProxy(upstream.url);
    alpine = await pushImage(upstream.url, 'library/alpine', 'latest', { layers: 3 });
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-sync-'));
    auditFile = path.join(dir, 'audit.log');
    const htpasswd = await writeHtpasswd({ reader: 'reader-pass', pusher: 'pusher-pass' });
    berth = await startBerth({
      config: {
        http: {
          auth: { htpasswd: { path: htpasswd } },
          accessControl: {
            metrics: { users: ['reader'] },
            repositories: {
              '**': { anonymousPolicy: ['read'] },
              'private/**': { policies: [{ users: ['reader'], actions: ['read'] }] },
              'local/**': { policies: [{ users: ['pusher'], actions: ['read', 'create'] }], anonymousPolicy: ['read'] },
            },
          },
        },
        log: { level: 'info', audit: auditFile },
        extensions: {
          ui: { enable: true },
          metrics: { enable: true },
          sync: { enable: true, registries: [{ urls: [proxy.url], onDemand: true, tlsVerify: false, manifestCheckInterval: '1s', maxRetries: 1, retryDelay: '10ms' }] },
        },
      },
      captureLog: true,
    });
  }, 60_000);
  afterAll(async () => {
    await berth?.close();
    await proxy?.stop();
    await upstream?.stop();
  });

  const settled = () => berth.app.pullThrough!.settled();

  it('answers a pull it cannot serve from the upstream, stores it as Berth, then serves it without the upstream', async () => {
    const manifest = await get(`${berth.url}/v2/library/alpine/manifests/latest`);
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('docker-content-digest')).toBe(alpine.digest);
    expect((await bytesOf(manifest)).equals(alpine.manifest)).toBe(true);
    for (const layer of alpine.layers) {
      const blob = await get(`${berth.url}/v2/library/alpine/blobs/${sha256(layer)}`);
      expect(blob.status).toBe(200);
      expect(blob.headers.get('content-length')).toBe(String(layer.length));
      expect((await bytesOf(blob)).equals(layer)).toBe(true);
    }
    await settled();
    // Stored as an ordinary image: tags, and each blob once in the repository.
    const tags = await (await get(`${berth.url}/v2/library/alpine/tags/list`)).json();
    expect(tags).toEqual({ name: 'library/alpine', tags: ['latest'] });
    for (const layer of alpine.layers) expect(proxy.count('GET', `/v2/library/alpine/blobs/${sha256(layer)}`)).toBe(1);
    expect(proxy.count('GET', `/v2/library/alpine/blobs/${sha256(alpine.config)}`)).toBe(1);
    // The audit log names Berth's sync as the writer and who asked.
    const lines = (await readFile(auditFile, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toContainEqual(
      expect.objectContaining({ event: 'sync-fetch', user: 'sync', onBehalfOf: null, repository: 'library/alpine', tag: 'latest', digest: alpine.digest, upstream: proxy.url, outcome: 'ok' }),
    );
    // The web UI says where the repository comes from, and when the tag was last confirmed upstream.
    for (const page of [`/repository?name=library/alpine`, `/image?name=library/alpine&ref=latest`]) {
      const ui = await fetch(`${berth.url}${page}`, { headers: { accept: 'text/html' } });
      expect(ui.status).toBe(200);
      const text = await ui.text();
      expect(text).toContain(`Mirror of <code class="wrap">${new URL(proxy.url).host}/library/alpine</code> (pull-through cache)`);
      expect(text).toContain('rechecked at most every 1 s');
      if (page.startsWith('/image')) expect(text).toMatch(/this one last <time/);
    }
    // And /metrics counts the misses and the bytes fetched.
    const metrics = await (await fetch(`${berth.url}/metrics`, { headers: { authorization: basicAuth('reader', 'reader-pass') } })).text();
    expect(metrics).toMatch(/berth_sync_pulls_total\{kind="manifest",outcome="miss"\} [1-9]/);
    const blobBytes = alpine.layers.reduce((sum, layer) => sum + layer.length, alpine.config.length);
    expect(metrics).toContain(`berth_sync_fetched_bytes_total{upstream="${proxy.url}",kind="blob"} ${blobBytes}`);
  });

  it('fetches each blob once under 8 concurrent pulls of an image', async () => {
    const image = await pushImage(upstream.url, 'library/busybox', '1.36', { layers: 2 });
    const pull = async () => {
      const manifest = await get(`${berth.url}/v2/library/busybox/manifests/1.36`);
      expect(manifest.status).toBe(200);
      for (const blob of [image.config, ...image.layers]) {
        const answer = await get(`${berth.url}/v2/library/busybox/blobs/${sha256(blob)}`);
        expect(answer.status).toBe(200);
        expect(sha256(await bytesOf(answer))).toBe(sha256(blob));
      }
    };
    await Promise.all(Array.from({ length: 8 }, pull));
    await settled();
    expect(proxy.count('GET', '/v2/library/busybox/manifests/1.36')).toBe(1);
    for (const blob of [image.config, ...image.layers]) expect(proxy.count('GET', `/v2/library/busybox/blobs/${sha256(blob)}`)).toBe(1);
  });

  it('lets a second client follow a download in progress from its first byte (one upstream fetch)', async () => {
    // 2 MiB whatever the random sizes: sent 30 ms a chunk, the download lasts long enough to join.
    const bytes = randomBytes(2 * 1024 * 1024);
    const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(bytes), size: bytes.length, bytes, diffId: sha256(bytes) };
    const image = await buildImage({ layers: 0, baseLayers: [layer], label: 'joined' });
    await pushImage(upstream.url, 'library/joined', 'v1', { image });
    proxy.slow(layer.digest, 30);
    expect((await get(`${berth.url}/v2/library/joined/manifests/v1`)).status).toBe(200);
    const read = async (url: string) => {
      const answer = await get(url);
      expect(answer.status).toBe(200);
      const reader = answer.body!.getReader();
      const parts: Uint8Array[] = [];
      let firstAt: number | undefined;
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        firstAt ??= Date.now();
        parts.push(next.value);
      }
      return { firstAt: firstAt!, endAt: Date.now(), bytes: Buffer.concat(parts) };
    };
    const url = `${berth.url}/v2/library/joined/blobs/${layer.digest}`;
    const first = read(url);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = await read(url);
    const firstDone = await first;
    expect(firstDone.bytes.equals(layer.bytes)).toBe(true);
    expect(second.bytes.equals(layer.bytes)).toBe(true);
    // The second client's bytes began before the first client's download ended: it followed the download.
    expect(second.firstAt).toBeLessThan(firstDone.endAt);
    await settled();
    expect(proxy.count('GET', `/v2/library/joined/blobs/${layer.digest}`)).toBe(1);
  });

  it('lets a client that falls behind the download go on from the stored blob, never cut off', async () => {
    // A layer well past what a lagging client may hold in memory (8 MiB) and the old 64 MiB limit.
    const bytes = randomBytes(96 * 1024 * 1024);
    const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(bytes), size: bytes.length, bytes, diffId: sha256(bytes) };
    const image = await buildImage({ layers: 0, baseLayers: [layer], label: 'lagging' });
    await pushImage(upstream.url, 'library/lagging', 'v1', { image });
    expect((await get(`${berth.url}/v2/library/lagging/manifests/v1`)).status).toBe(200);
    // The client reads the headers, then nothing until the blob is stored: the download goes on at
    // the upstream's pace without it, and it then gets every byte, from where it was.
    const answer = await new Promise<IncomingMessage>((resolve, reject) => httpGet(`${berth.url}/v2/library/lagging/blobs/${layer.digest}`, resolve).on('error', reject));
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['content-length']).toBe(String(layer.size));
    answer.pause();
    const stored = () => berth.app.registry.store.statBlob('library/lagging', parseDigest(layer.digest)!);
    for (let tries = 0; (await stored()) === undefined && tries < 900; tries++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await stored()).toBe(layer.size);
    const parts: Buffer[] = [];
    for await (const chunk of answer) parts.push(chunk as Buffer);
    expect(answer.complete).toBe(true);
    expect(sha256(Buffer.concat(parts))).toBe(layer.digest);
    expect(proxy.count('GET', `/v2/library/lagging/blobs/${layer.digest}`)).toBe(1);
  });

  /** A GET read as it arrives: bytes so far, whether Berth held the blob at the first byte, how it ended. */
  const reading = (url: string, stored: () => Promise<boolean>) => {
    let received = 0;
    let storedAtFirstByte: boolean | undefined;
    const parts: Uint8Array[] = [];
    let sawFirstByte!: () => void;
    const firstByte = new Promise<void>((resolve) => (sawFirstByte = resolve));
    const done = (async () => {
      const answer = await get(url);
      expect(answer.status).toBe(200);
      const reader = answer.body!.getReader();
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        if (storedAtFirstByte === undefined) {
          storedAtFirstByte = await stored();
          sawFirstByte();
        }
        parts.push(next.value);
        received += next.value.length;
      }
      return `complete ${sha256(Buffer.concat(parts))}`;
    })().catch(() => 'cut');
    return { received: () => received, storedAtFirstByte: () => storedAtFirstByte, firstByte, done };
  };
  const until = async (condition: () => boolean) => {
    for (let tries = 0; !condition() && tries < 1600; tries++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(condition()).toBe(true);
  };

  it('lets a client that joins after the kept beginning follow the download as it is stored (one upstream fetch)', async () => {
    // Past the 32 MiB a download keeps in memory for joiners; the upstream stops at 40 MiB until released.
    const bytes = randomBytes(48 * 1024 * 1024);
    const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(bytes), size: bytes.length, bytes, diffId: sha256(bytes) };
    const image = await buildImage({ layers: 0, baseLayers: [layer], label: 'late' });
    await pushImage(upstream.url, 'library/late', 'v1', { image });
    const gate = proxy.hold(layer.digest, 40 * 1024 * 1024);
    expect((await get(`${berth.url}/v2/library/late/manifests/v1`)).status).toBe(200);
    const url = `${berth.url}/v2/library/late/blobs/${layer.digest}`;
    const stored = async () => (await berth.app.registry.store.statBlob('library/late', parseDigest(layer.digest)!)) !== undefined;
    const first = reading(url, stored);
    await until(() => first.received() > 34 * 1024 * 1024);
    const second = reading(url, stored);
    // A third joins and leaves after its first bytes: the download goes on, and it keeps no file open.
    const third = get(url).then(async (answer) => {
      const reader = answer.body!.getReader();
      await reader.read();
      await reader.cancel().catch(() => undefined);
      return answer.status;
    });
    // On the filesystem the late clients read the session file as it grows: their first bytes come
    // while the download is held. S3 sessions are no file: they wait for the stored blob.
    const followsFile = typeof berth.app.registry.store.uploads.openSession === 'function';
    if (followsFile) await Promise.all([second.firstByte, third]);
    else await new Promise((resolve) => setTimeout(resolve, 300));
    gate.release();
    expect(await third).toBe(200);
    expect(await first.done).toBe(`complete ${layer.digest}`);
    expect(await second.done).toBe(`complete ${layer.digest}`);
    expect(second.storedAtFirstByte()).toBe(!followsFile);
    await settled();
    expect(proxy.count('GET', `/v2/library/late/blobs/${layer.digest}`)).toBe(1);
    // No descriptor of the session file (now the stored blob) is left open once the readers are gone.
    const openFiles = async () => {
      const links = await Promise.all((await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
      return links.filter((link) => link.includes(layer.digest.slice(7)) || link.includes('/library/late/.uploads/')).length;
    };
    for (let tries = 0; (await openFiles()) > 0 && tries < 40; tries++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(await openFiles()).toBe(0);
  });

  it('streams to a client who asks before the upstream answered (its token, a redirect) as soon as it does, not once the blob is stored', async () => {
    const bytes = randomBytes(8 * 1024 * 1024);
    const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(bytes), size: bytes.length, bytes, diffId: sha256(bytes) };
    const image = await buildImage({ layers: 0, baseLayers: [layer], label: 'early' });
    await pushImage(upstream.url, 'library/early', 'v1', { image });
    expect((await get(`${berth.url}/v2/library/early/manifests/v1`)).status).toBe(200);
    // The upstream sends nothing at first, then stops after 4 MiB until released.
    const headers = proxy.holdHeaders(layer.digest);
    const body = proxy.hold(layer.digest, 4 * 1024 * 1024);
    const url = `${berth.url}/v2/library/early/blobs/${layer.digest}`;
    const stored = async () => (await berth.app.registry.store.statBlob('library/early', parseDigest(layer.digest)!)) !== undefined;
    const first = reading(url, stored);
    await until(() => proxy.count('GET', `/v2/library/early/blobs/${layer.digest}`) === 1);
    const second = reading(url, stored);
    await new Promise((resolve) => setTimeout(resolve, 100));
    headers.release();
    // Both get their first bytes while the download is held halfway: the second did not wait for the blob to be stored.
    const within = (ms: number) => new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), ms));
    expect(await Promise.race([Promise.all([first.firstByte, second.firstByte]).then(() => 'both'), within(15_000)])).toBe('both');
    expect(first.storedAtFirstByte()).toBe(false);
    expect(second.storedAtFirstByte()).toBe(false);
    body.release();
    expect(await first.done).toBe(`complete ${layer.digest}`);
    expect(await second.done).toBe(`complete ${layer.digest}`);
    await settled();
    expect(proxy.count('GET', `/v2/library/early/blobs/${layer.digest}`)).toBe(1);
  });

  it('never completes a forged blob for a client that joined late: both downloads fail, nothing is stored', async () => {
    const bytes = randomBytes(40 * 1024 * 1024);
    const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(bytes), size: bytes.length, bytes, diffId: sha256(bytes) };
    const image = await buildImage({ layers: 0, baseLayers: [layer], label: 'late-forged' });
    await pushImage(upstream.url, 'library/late-forged', 'v1', { image });
    // The upstream's stored bytes change behind its back: same length, another digest.
    const file = path.join(upstream.root, 'data/docker/registry/v2/blobs/sha256', layer.digest.slice(7, 9), layer.digest.slice(7), 'data');
    await writeFile(file, Buffer.alloc(layer.size, 0x42));
    const gate = proxy.hold(layer.digest, 36 * 1024 * 1024);
    expect((await get(`${berth.url}/v2/library/late-forged/manifests/v1`)).status).toBe(200);
    const url = `${berth.url}/v2/library/late-forged/blobs/${layer.digest}`;
    const stored = async () => (await berth.app.registry.store.statBlob('library/late-forged', parseDigest(layer.digest)!)) !== undefined;
    const first = reading(url, stored);
    await until(() => first.received() > 34 * 1024 * 1024);
    const second = reading(url, stored);
    await new Promise((resolve) => setTimeout(resolve, 200));
    gate.release();
    expect(await first.done).toBe('cut');
    expect(await second.done).toBe('cut');
    // Neither got the whole length: the last byte waits for a digest that never matched.
    expect(first.received()).toBeLessThan(layer.size);
    expect(second.received()).toBeLessThan(layer.size);
    await settled();
    expect(await stored()).toBe(false);
  });

  it('answers a Range on a blob it is still fetching with 206 and those bytes, ended once the blob is stored', async () => {
    const image = await buildImage({ layers: 2, filesPerLayer: 1, maxFileBytes: 512 * 1024, label: 'ranged' });
    await pushImage(upstream.url, 'library/ranged', 'v1', { image });
    expect((await get(`${berth.url}/v2/library/ranged/manifests/v1`)).status).toBe(200);
    const stored = (blob: { digest: string }) => berth.app.registry.store.statBlob('library/ranged', parseDigest(blob.digest)!);
    const cases = [
      { blob: image.layers[0]!, range: 'bytes=10-99', start: 10, end: 99 },
      { blob: image.layers[1]!, range: 'bytes=-100', start: image.layers[1]!.size - 100, end: image.layers[1]!.size - 1 },
    ];
    for (const { blob, range, start, end } of cases) {
      expect(await stored(blob)).toBeUndefined();
      const answer = await get(`${berth.url}/v2/library/ranged/blobs/${blob.digest}`, { range });
      expect(answer.status).toBe(206);
      expect(answer.headers.get('content-range')).toBe(`bytes ${start}-${end}/${blob.size}`);
      expect(answer.headers.get('content-length')).toBe(String(end - start + 1));
      expect((await bytesOf(answer)).equals(blob.bytes.subarray(start, end + 1))).toBe(true);
      // The answer ended only once the whole blob was stored, its digest checked.
      expect(await stored(blob)).toBe(blob.size);
    }
    // A range past the end is refused (416); the download goes on and stores the blob.
    const past = await get(`${berth.url}/v2/library/ranged/blobs/${image.config.digest}`, { range: `bytes=${image.config.size}-` });
    expect(past.status).toBe(416);
    expect(await errorCode(past)).toBe('RANGE_INVALID');
    await settled();
    expect(await stored(image.config)).toBe(image.config.size);
    expect(proxy.count('GET', `/v2/library/ranged/blobs/${image.config.digest}`)).toBe(1);
  });

  it('mirrors a multi-arch index with every platform, each child pullable by digest', async () => {
    const amd = await pushImage(upstream.url, 'library/multi', 'amd64-only');
    const arm = await pushImage(upstream.url, 'library/multi', 'arm64-only');
    const document = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: amd.digest, size: amd.manifest.length, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: OCI_MANIFEST, digest: arm.digest, size: arm.manifest.length, platform: { architecture: 'arm64', os: 'linux' } },
      ],
    };
    const bytes = Buffer.from(JSON.stringify(document));
    const indexDigest = await putManifest(upstream.url, 'library/multi', 'latest', { mediaType: OCI_INDEX, digest: sha256(bytes), size: bytes.length, bytes });
    const index = await get(`${berth.url}/v2/library/multi/manifests/latest`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe(OCI_INDEX);
    expect(index.headers.get('docker-content-digest')).toBe(indexDigest);
    const child = await get(`${berth.url}/v2/library/multi/manifests/${arm.digest}`);
    expect(child.status).toBe(200);
    expect((await bytesOf(child)).equals(arm.manifest)).toBe(true);
    await settled();
    await upstream.stop();
    try {
      for (const image of [amd, arm]) {
        const stored = await get(`${berth.url}/v2/library/multi/manifests/${image.digest}`);
        expect(stored.status).toBe(200);
        for (const layer of image.layers) expect(sha256(await bytesOf(await get(`${berth.url}/v2/library/multi/blobs/${sha256(layer)}`)))).toBe(sha256(layer));
      }
      const again = await get(`${berth.url}/v2/library/multi/manifests/${indexDigest}`);
      expect(again.status).toBe(200);
    } finally {
      await upstream.start();
    }
  });

  it('answers 404 MANIFEST_UNKNOWN for what the upstream lacks, and stores nothing', async () => {
    const missing = await get(`${berth.url}/v2/library/alpine/manifests/no-such-tag`);
    expect(missing.status).toBe(404);
    expect(await errorCode(missing)).toBe('MANIFEST_UNKNOWN');
    const repository = await get(`${berth.url}/v2/nothing/here/manifests/latest`);
    expect(repository.status).toBe(404);
    expect(await errorCode(repository)).toBe('MANIFEST_UNKNOWN');
  });

  it('authorizes the local repository before asking the upstream', async () => {
    await pushImage(upstream.url, 'private/app', 'v1');
    proxy.clear();
    const anonymous = await get(`${berth.url}/v2/private/app/manifests/v1`);
    expect(anonymous.status).toBe(401);
    expect(proxy.counts.size).toBe(0);
    const reader = await get(`${berth.url}/v2/private/app/manifests/v1`, { authorization: basicAuth('reader', 'reader-pass') });
    expect(reader.status).toBe(200);
    expect(proxy.count('GET', '/v2/private/app/manifests/v1')).toBe(1);
    await settled();
  });

  it('stores nothing of a blob the upstream cuts off or forges; the next pull succeeds', async () => {
    const image = await pushImage(upstream.url, 'library/cut', 'v1', { layers: 1 });
    const layer = image.layers[0]!;
    const layerDigest = sha256(layer);
    proxy.cut(layerDigest, Math.floor(layer.length / 2));
    const manifest = await get(`${berth.url}/v2/library/cut/manifests/v1`);
    expect(manifest.status).toBe(200);
    // The client sees a failed download (a cut body, or an error status), never a complete answer.
    expect(await pullOutcome(`${berth.url}/v2/library/cut/blobs/${layerDigest}`)).toMatch(/^(cut|status 5\d\d)$/);
    await settled();
    expect(await berth.app.registry.store.statBlob('library/cut', parseDigest(layerDigest)!)).toBeUndefined();
    expect(berth.logText()).toContain('sync: a blob from the upstream was not stored');
    proxy.clear();
    const whole = await get(`${berth.url}/v2/library/cut/blobs/${layerDigest}`);
    expect(whole.status).toBe(200);
    expect((await bytesOf(whole)).equals(layer)).toBe(true);
    await settled();
    expect(await berth.app.registry.store.statBlob('library/cut', parseDigest(layerDigest)!)).toBe(layer.length);

    // A forged blob: the upstream's stored bytes changed behind its back.
    const forged = await pushImage(upstream.url, 'library/forged', 'v1', { layers: 1 });
    const forgedDigest = sha256(forged.layers[0]!);
    const file = path.join(upstream.root, 'data/docker/registry/v2/blobs/sha256', forgedDigest.slice(7, 9), forgedDigest.slice(7), 'data');
    await writeFile(file, Buffer.alloc(forged.layers[0]!.length, 0x41));
    // The forged bytes stream, but the last of them and the end only follow a matching digest: the
    // client's download fails instead of completing with the wrong content.
    expect(await pullOutcome(`${berth.url}/v2/library/forged/blobs/${forgedDigest}`)).toMatch(/^(cut|status 5\d\d)$/);
    await settled();
    expect(await berth.app.registry.store.statBlob('library/forged', parseDigest(forgedDigest)!)).toBeUndefined();
    expect(berth.logText()).toMatch(/sync: a blob from the upstream was not stored.*DIGEST_INVALID|DIGEST_INVALID.*sync: a blob from the upstream was not stored|provided digest did not match/s);
  });

  it('answers a HEAD for a blob it does not hold with 404, so a pushing client uploads it', async () => {
    const image = await pushImage(upstream.url, 'library/head', 'v1', { layers: 1 });
    const head = await fetch(`${berth.url}/v2/library/head/blobs/${sha256(image.layers[0]!)}`, { method: 'HEAD' });
    expect(head.status).toBe(404);
  });

  it("serves containerd's ?ns= only from the upstream of that registry", async () => {
    await pushImage(upstream.url, 'library/namespaced', 'v1');
    proxy.clear();
    const other = await get(`${berth.url}/v2/library/namespaced/manifests/v1?ns=ghcr.io`);
    expect(other.status).toBe(404);
    expect(proxy.counts.size).toBe(0);
    const same = await get(`${berth.url}/v2/library/namespaced/manifests/v1?ns=${new URL(proxy.url).host}`);
    expect(same.status).toBe(200);
    await settled();
  });

  it('serves its copy of a tag that moved upstream when fetching the new one takes more than 10 s', async () => {
    const first = await pushImage(upstream.url, 'library/stalling', 'stable');
    expect((await get(`${berth.url}/v2/library/stalling/manifests/stable`)).headers.get('docker-content-digest')).toBe(first.digest);
    await settled();
    const second = await pushImage(upstream.url, 'library/stalling', 'stable');
    // The check (a HEAD) says the tag moved; the GET of the new manifest then sends nothing.
    const stall = proxy.holdHeaders('/v2/library/stalling/manifests/', 'GET');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const started = Date.now();
    const answer = await get(`${berth.url}/v2/library/stalling/manifests/stable`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('docker-content-digest')).toBe(first.digest);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(berth.logText()).toContain('sync: the upstream could not be asked; serving the copy Berth holds');
    // When the new manifest comes after all, it is kept: the tag moves here too.
    stall.release();
    await eventually(async () => {
      await settled();
      expect((await berth.app.registry.manifests.head('library/stalling', { tag: 'stable' })).digest).toBe(second.digest);
    }, 15_000);
  }, 40_000);

  it('fetches nothing more for images it was completing once it shuts down', async () => {
    const image = await pushImage(upstream.url, 'library/shutdown', 'v1', { layers: 2 });
    const other = await startBerth({
      config: { http: { accessControl: { repositories: { '**': { anonymousPolicy: ['read'] } } } }, extensions: { sync: { enable: true, registries: [{ urls: [proxy.url], onDemand: true }] } } },
    });
    expect((await get(`${other.url}/v2/library/shutdown/manifests/v1`)).status).toBe(200);
    // The image would be completed after a 2 s grace; Berth stops first.
    await other.close();
    for (const layer of [image.config, ...image.layers]) expect(proxy.count('GET', `/v2/library/shutdown/blobs/${sha256(layer)}`)).toBe(0);
  });

  it('rechecks a tag only after manifestCheckInterval, follows a moved tag, and serves its copy when the upstream is down', async () => {
    const first = await pushImage(upstream.url, 'library/moving', 'stable');
    expect((await get(`${berth.url}/v2/library/moving/manifests/stable`)).headers.get('docker-content-digest')).toBe(first.digest);
    await settled();
    const second = await pushImage(upstream.url, 'library/moving', 'stable');
    proxy.clear();
    // Within the interval: the held copy, no upstream request.
    expect((await get(`${berth.url}/v2/library/moving/manifests/stable`)).headers.get('docker-content-digest')).toBe(first.digest);
    expect(proxy.count('HEAD', '/v2/library/moving/manifests/stable')).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await get(`${berth.url}/v2/library/moving/manifests/stable`)).headers.get('docker-content-digest')).toBe(second.digest);
    expect(proxy.count('HEAD', '/v2/library/moving/manifests/stable')).toBe(1);
    await settled();
    await upstream.stop();
    try {
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const offline = await get(`${berth.url}/v2/library/moving/manifests/stable`);
      expect(offline.status).toBe(200);
      expect(offline.headers.get('docker-content-digest')).toBe(second.digest);
      expect(berth.logText()).toContain('sync: cannot check the tag upstream; serving the copy Berth holds');
    } finally {
      await upstream.start();
    }
  });

  it('keeps an image pushed to Berth in a mirrored namespace: the upstream lacking the tag changes nothing', async () => {
    const local = await pushImage(berth.url, 'local/app', 'v1', { headers: { authorization: basicAuth('pusher', 'pusher-pass') } });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    proxy.clear();
    for (let round = 0; round < 2; round++) {
      const answer = await get(`${berth.url}/v2/local/app/manifests/v1`);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('docker-content-digest')).toBe(local.digest);
    }
    // Asked once (the interval had passed), then remembered as Berth's own for the interval.
    expect(proxy.count('HEAD', '/v2/local/app/manifests/v1')).toBe(1);
    expect(berth.logText()).not.toMatch(/cannot check the tag upstream[^\n]*local\/app|local\/app[^\n]*cannot check the tag upstream/);
  });

  it('serves skopeo through the cache, byte for byte', async () => {
    const image = await pushImage(upstream.url, 'library/skopeo-test', 'v1', { layers: 2 });
    const out = await mkdtemp(path.join(tmpdir(), 'berth-sync-skopeo-'));
    await skopeoCopy(`docker://${berth.host}/library/skopeo-test:v1`, `oci:${out}:v1`);
    const blobs = await readdir(path.join(out, 'blobs', 'sha256'));
    expect(blobs).toEqual(expect.arrayContaining([image.digest.slice(7), ...image.layers.map((layer) => sha256(layer).slice(7))]));
    await settled();
  });
});

describe('pull-through from an upstream that wants a token (the Docker Hub flow)', () => {
  it('signs in with credentialsFile, pulls through, and names the upstream when it refuses', async () => {
    const tokens = await startTokenServer({ users: { hubuser: 'hub-pass' } });
    const upstream = await startDockerRegistry({ auth: { token: tokens } });
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-sync-token-'));
    const credentialsFile = path.join(dir, 'credentials.json');
    await writeFile(credentialsFile, JSON.stringify({ [new URL(upstream.url).host]: { username: 'hubuser', password: 'hub-pass' } }));
    const wrongFile = path.join(dir, 'wrong.json');
    await writeFile(wrongFile, JSON.stringify({ [new URL(upstream.url).host]: { username: 'hubuser', password: 'not-the-password' } }));
    const image = await pushImage(upstream.url, 'org/tool', 'stable', { headers: await upstreamHeaders(upstream, { token: tokens }, 'hubuser', 'hub-pass', 'org/tool') });
    const sync = (file: string) => ({ extensions: { sync: { credentialsFile: file, registries: [{ urls: [upstream.url], onDemand: true }] } } });
    const berth = await startBerth({ config: sync(credentialsFile) });
    const refusing = await startBerth({ config: sync(wrongFile), captureLog: true });
    try {
      const manifest = await get(`${berth.url}/v2/org/tool/manifests/stable`);
      expect(manifest.status).toBe(200);
      expect(manifest.headers.get('docker-content-digest')).toBe(image.digest);
      const layer = await get(`${berth.url}/v2/org/tool/blobs/${sha256(image.layers[0]!)}`);
      expect((await bytesOf(layer)).equals(image.layers[0]!)).toBe(true);
      await berth.app.pullThrough!.settled();
      // One token for the repository's pull scope, reused for every request of the image.
      expect(tokens.requests.filter((item) => item.scope === 'repository:org/tool:pull' && item.user === 'hubuser')).toHaveLength(1);

      const refused = await get(`${refusing.url}/v2/org/tool/manifests/stable`);
      expect(refused.status).toBe(403);
      const body = (await refused.json()) as { errors: Array<{ code: string; detail: string }> };
      expect(body.errors[0]!.code).toBe('DENIED');
      expect(body.errors[0]!.detail).toContain(`the token service ${tokens.url} refused Berth's credentials`);
      expect(JSON.stringify(body) + refusing.logText()).not.toContain('not-the-password');
    } finally {
      await Promise.all([berth.close(), refusing.close()]);
      await upstream.stop();
      await tokens.stop();
    }
  }, 60_000);
});
