/**
 * The `ui` phase of `npm run bench`: the web UI's pages on a big registry, cold (the first request
 * after a restart) and warm. The storage is written directly as zot's layout (a repository is an OCI
 * image layout: oci-layout, index.json, blobs/sha256/<hex>), which takes seconds where pushing
 * 13,000 manifests through the API takes minutes: BENCH_UI_REPOS repositories of one image each,
 * and one repository of BENCH_UI_TAGS tags (each its own manifest and config over a shared layer),
 * with a referrer and an index, every entry carrying Berth's push time.
 *
 * Berth is started once on that storage and each page visited (what a first visit after an upgrade
 * costs: the read models are built and kept), then, for each page, restarted and the page asked
 * once (cold) and BENCH_UI_WARM more times (warm, median). The time is the HTTP request on
 * loopback, one connection, one request at a time: server time plus a loopback round trip.
 *
 * Environment: BENCH_UI_REPOS=5000, BENCH_UI_TAGS=8000, BENCH_UI_WARM=20.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { median } from './load.mjs';
import { OCI_MANIFEST } from './registry-client.mjs';
import { startServer, stopServer } from './servers.mjs';

const OUT_DIR = fileURLToPath(new URL('./out/', import.meta.url));
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const REF_NAME = 'org.opencontainers.image.ref.name';
const PUSHED_AT = 'dev.berth.pushed';
const BIG = 'big/app';

function intFromEnv(name, fallback) {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

/** Writes `bytes` as a blob of the repository folder `dir`; returns its descriptor. */
function blob(dir, mediaType, bytes) {
  const hex = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(path.join(dir, 'blobs', 'sha256', hex), bytes);
  return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
}

function repositoryFolder(root, name) {
  const dir = path.join(root, ...name.split('/'));
  mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  return dir;
}

const json = (value) => Buffer.from(JSON.stringify(value));
const config = (i, architecture = 'amd64') =>
  json({
    architecture,
    os: 'linux',
    created: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    config: { Labels: { n: String(i) } },
    rootfs: { type: 'layers', diff_ids: [] },
    history: [{ created_by: `RUN step ${i}` }],
  });
const pushedAt = (i) => new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString();

/** One image (config + layer + manifest) in `dir`; returns the manifest's descriptor. */
function image(dir, i, layer, architecture) {
  const configDescriptor = blob(dir, OCI_CONFIG, config(i, architecture));
  return blob(dir, OCI_MANIFEST, json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDescriptor, layers: [layer] }));
}

/** The storage: `repos` small repositories and BIG with `tags` tags, a referrer and an index. */
export function fillStorage(root, repos, tags) {
  for (let i = 0; i < repos; i++) {
    const dir = repositoryFolder(root, `team${String(i % 100).padStart(2, '0')}/app${String(i).padStart(5, '0')}`);
    const layer = blob(dir, OCI_LAYER, Buffer.from(`layer of repository ${i}`));
    const manifest = image(dir, i, layer);
    writeFileSync(
      path.join(dir, 'index.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...manifest, annotations: { [REF_NAME]: 'latest', [PUSHED_AT]: pushedAt((i * 7919) % repos) } }] }),
    );
  }
  const dir = repositoryFolder(root, BIG);
  const layer = blob(dir, OCI_LAYER, Buffer.alloc(64 * 1024, 7));
  const width = String(tags - 1).length;
  const entries = [];
  for (let i = 0; i < tags; i++) entries.push({ ...image(dir, i, layer), annotations: { [REF_NAME]: `v${String(i).padStart(width, '0')}`, [PUSHED_AT]: pushedAt(i) } });
  const subject = entries[tags / 2];
  const referrer = blob(
    dir,
    OCI_MANIFEST,
    json({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: blob(dir, 'application/vnd.oci.empty.v1+json', Buffer.from('{}')).digest, size: 2 },
      layers: [],
      subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.size },
    }),
  );
  const arm = image(dir, tags, layer, 'arm64');
  const amd = entries[0];
  const index = blob(
    dir,
    OCI_INDEX,
    json({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { ...amd, annotations: undefined, platform: { os: 'linux', architecture: 'amd64' } },
        { ...arm, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    }),
  );
  entries.push(
    { ...referrer, annotations: { [PUSHED_AT]: pushedAt(tags) } },
    { ...arm, annotations: { [PUSHED_AT]: pushedAt(tags) } },
    { ...index, annotations: { [REF_NAME]: 'multi', [PUSHED_AT]: pushedAt(tags + 1) } },
  );
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries }));
  return { subjectTag: subject.annotations[REF_NAME] };
}

/** UI on, no users: anonymous callers read everything (as a homelab's open registry). */
const uiConfig = (storageRoot) => (config) => ({
  ...config,
  storage: { ...config.storage, rootDirectory: storageRoot },
  http: { ...config.http, accessControl: { repositories: { '**': { anonymousPolicy: ['read'] } } } },
  extensions: { ui: { enable: true } },
});

async function timeGet(pool, url) {
  const t0 = performance.now();
  const response = await pool.request({ method: 'GET', path: url, headers: { accept: 'text/html' } });
  const body = await response.body.text();
  const ms = performance.now() - t0;
  if (response.statusCode !== 200) throw new Error(`GET ${url}: HTTP ${response.statusCode}: ${body.slice(0, 300)}`);
  return { ms, body };
}

/** Runs the phase; returns `{ report }` printing its table and writing bench/out/ui.json. */
export async function runUiPhase({ say, nodeArgs = [], main }) {
  const repos = intFromEnv('BENCH_UI_REPOS', 5000);
  const tags = intFromEnv('BENCH_UI_TAGS', 8000);
  const warm = intFromEnv('BENCH_UI_WARM', 20);
  const base = mkdtempSync(path.join(tmpdir(), 'bench-ui-'));
  const storage = path.join(base, 'storage');
  const rows = [];
  const firstVisit = {};
  try {
    const t0 = performance.now();
    const { subjectTag } = fillStorage(storage, repos, tags);
    say(`ui setup: ${repos} repositories and ${BIG} with ${tags} tags written as zot's layout in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const pages = [
      ['repositories, by name', '/repositories'],
      ['repositories, by last push', '/repositories?sort=pushed'],
      ['repositories, search', '/repositories?q=app0123'],
      ['search keystroke (/api/ui)', '/api/ui/repositories?q=app012&page=1&perPage=50'],
      [`repository of ${tags} tags, by date`, `/repository?name=${BIG}`],
      [`repository of ${tags} tags, by name`, `/repository?name=${BIG}&sort=name`],
      [`repository of ${tags} tags, page 80`, `/repository?name=${BIG}&page=80`],
      ['image page (with referrer)', `/image?name=${BIG}&ref=${subjectTag}`],
      ['image page of an index', `/image?name=${BIG}&ref=multi`],
    ];
    const start = () => startServer('berth', { nodeArgs, main, extend: uiConfig(storage), name: 'Berth (ui)' });
    // The first visit after an upgrade: whatever is built from storage once.
    let server = await start();
    try {
      const pool = new Pool(server.base, { connections: 1 });
      for (const [label, url] of pages) firstVisit[label] = (await timeGet(pool, url)).ms;
      await pool.close();
    } finally {
      await stopServer(server);
    }
    for (const [label, url] of pages) {
      server = await start();
      try {
        const pool = new Pool(server.base, { connections: 1 });
        const cold = (await timeGet(pool, url)).ms;
        const times = [];
        for (let i = 0; i < warm; i++) times.push((await timeGet(pool, url)).ms);
        await pool.close();
        rows.push({ label, url, first: firstVisit[label], cold, warm: median(times), warmMax: Math.max(...times) });
        say(`  ${label}: cold ${cold.toFixed(1)} ms, warm ${median(times).toFixed(1)} ms`);
      } finally {
        await stopServer(server);
      }
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
  return {
    report() {
      say('');
      say(`Web UI at ${repos} repositories and one of ${tags} tags: ms per page on loopback (cold: first request after a restart; warm: median of ${warm}).`);
      say('"first visit": the first request to a server that had never seen the storage (before a restart).');
      say('');
      say('| page | first visit | cold | warm | warm max |');
      say('|---|---:|---:|---:|---:|');
      for (const row of rows) say(`| ${row.label} | ${row.first.toFixed(1)} | ${row.cold.toFixed(1)} | ${row.warm.toFixed(1)} | ${row.warmMax.toFixed(1)} |`);
      mkdirSync(OUT_DIR, { recursive: true });
      writeFileSync(`${OUT_DIR}ui.json`, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, repos, tags, warm, rows }, null, 2)}\n`);
      say(`\nwrote ${OUT_DIR}ui.json`);
    },
  };
}
