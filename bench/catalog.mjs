/**
 * The `catalog` phase of `npm run bench`: `/v2/_catalog` paged through every repository, and the web
 * UI's repository list (`/api/ui/repositories`, by name and by last push), on a Berth of its own with
 * the UI on, an htpasswd admin and `accessControl` letting anonymous callers read (docs/web-ui.md).
 * Each request is timed alone (one connection), as an admin (who reads everything: no per-repository
 * permission check) and anonymously (a check per repository looked at); rows show p50/p99 per page.
 *
 * The same pages are measured at BENCH_REPOS / 10 repositories and again at BENCH_REPOS, and the
 * ratio of the medians is shown: a page whose cost grew with the repositories it does not return
 * would show it there. The repositories are pushed through the API (one config blob mounted from a
 * seed repository, one manifest each), 32 requests in flight.
 *
 * Environment: BENCH_REPOS=10000 repositories at the end, BENCH_CATALOG_PAGE=100 names per
 * `_catalog` page (n), BENCH_UI_PAGE=50 repositories per UI page.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { median } from './load.mjs';
import { OCI_MANIFEST, pushSmallImage, transferClient } from './registry-client.mjs';
import { memoryOf, startServer, stopServer, wholeRunPeak, BENCH_ADMIN, writeAdminHtpasswd } from './servers.mjs';

const OUT_DIR = fileURLToPath(new URL('./out/', import.meta.url));
const MiB = 1024 * 1024;
const ADMIN = BENCH_ADMIN;
const SEED = 'seed/image';
const IN_FLIGHT = 32;

function intFromEnv(name, fallback) {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

/** UI on, an admin in htpasswd, anonymous read everywhere (so anonymous listings check each name). */
function catalogConfig(config, root) {
  const htpasswd = writeAdminHtpasswd(root);
  return {
    ...config,
    http: {
      ...config.http,
      auth: { htpasswd: { path: htpasswd } },
      accessControl: {
        repositories: { '**': { anonymousPolicy: ['read'] } },
        adminPolicy: { users: [ADMIN.user], actions: ['read', 'create', 'update', 'delete'] },
      },
    },
    extensions: { ui: { enable: true } },
  };
}

const basic = `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`;
const repositoryName = (i) => `team${String(i % 100).padStart(2, '0')}/app${String(i).padStart(5, '0')}`;

/** Pushes repositories `from`..`to`-1: a manifest each whose config blob is mounted from SEED. */
async function pushRepositories(server, seed, from, to) {
  const pool = new Pool(server.base, { connections: IN_FLIGHT, headersTimeout: 60_000, bodyTimeout: 60_000 });
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: seed.config, layers: [] }));
  let next = from;
  const call = async (options, expected) => {
    const response = await pool.request({ ...options, headers: { authorization: basic, ...options.headers } });
    const text = await response.body.text();
    if (response.statusCode !== expected) throw new Error(`${options.method} ${options.path}: HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
  };
  try {
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < to) {
          const name = repositoryName(next++);
          await call({ method: 'POST', path: `/v2/${name}/blobs/uploads/?mount=${seed.config.digest}&from=${SEED}`, headers: { 'content-length': '0' } }, 201);
          await call({ method: 'PUT', path: `/v2/${name}/manifests/latest`, headers: { 'content-type': OCI_MANIFEST }, body: manifest }, 201);
        }
      }),
    );
  } finally {
    await pool.close();
  }
}

/** Times each request alone; `check` sees each parsed body. Returns latencies (ms). */
async function timeRequests(server, requests, { admin }) {
  const pool = new Pool(server.base, { connections: 1 });
  const latencies = [];
  try {
    for (const { path: url, check } of requests) {
      const t0 = performance.now();
      const response = await pool.request({ method: 'GET', path: url, headers: admin ? { authorization: basic } : {} });
      const body = await response.body.text();
      latencies.push(performance.now() - t0);
      if (response.statusCode !== 200) throw new Error(`GET ${url}: HTTP ${response.statusCode}: ${body.slice(0, 200)}`);
      check?.(JSON.parse(body), response.headers);
    }
  } finally {
    await pool.close();
  }
  return latencies;
}

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

/** `_catalog` from the first page to the last, following Link; checks it sees `count` names, sorted. */
async function catalogWalk(server, count, pageSize, admin) {
  const seen = [];
  let url = `/v2/_catalog?n=${pageSize}`;
  const pool = new Pool(server.base, { connections: 1 });
  const latencies = [];
  try {
    while (url) {
      const t0 = performance.now();
      const response = await pool.request({ method: 'GET', path: url, headers: admin ? { authorization: basic } : {} });
      const body = JSON.parse(await response.body.text());
      latencies.push(performance.now() - t0);
      if (response.statusCode !== 200) throw new Error(`GET ${url}: HTTP ${response.statusCode}`);
      seen.push(...body.repositories);
      url = /<([^>]+)>;\s*rel="next"/.exec(response.headers.link ?? '')?.[1];
    }
  } finally {
    await pool.close();
  }
  const names = seen.filter((name) => name !== SEED);
  if (names.length !== count || names.some((name, i) => i > 0 && names[i - 1] >= name)) throw new Error(`_catalog returned ${names.length} names (expected ${count}), or out of order`);
  return latencies;
}

/** UI list pages: the first, the middle and the last, repeated; checks totals. */
function uiPages(count, perPage, sort, rounds) {
  const pages = Math.ceil((count + 1) / perPage);
  const wanted = [1, Math.ceil(pages / 2), pages];
  const requests = [];
  for (let i = 0; i < rounds; i++) {
    for (const page of wanted) {
      requests.push({
        path: `/api/ui/repositories?sort=${sort}&page=${page}&perPage=${perPage}`,
        check: (body) => {
          if (body.total !== count + 1 || body.repositories.length === 0) throw new Error(`/api/ui/repositories: total ${body.total}, expected ${count + 1}`);
        },
      });
    }
  }
  return requests;
}

/**
 * Runs the phase; returns `{ report }` printing the table (after the main one) and writing
 * bench/out/catalog.json.
 */
export async function runCatalogPhase({ say, nodeArgs = [], main }) {
  const total = intFromEnv('BENCH_REPOS', 10_000);
  const small = Math.max(1, Math.floor(total / 10));
  const catalogPage = intFromEnv('BENCH_CATALOG_PAGE', 100);
  const uiPage = intFromEnv('BENCH_UI_PAGE', 50);
  const server = await startServer('berth', { nodeArgs, main, extend: catalogConfig, name: 'Berth (catalog)' });
  say(`started ${server.name} pid ${server.pid} on ${server.base}: UI on, htpasswd admin, anonymous read`);
  const rows = [];
  const measurements = {};
  try {
    const client = transferClient(server);
    let seed;
    try {
      // The seed image is pushed as the admin: the transfer client sends no credentials, so mount its blobs through Basic.
      seed = await pushSmallImage(withAuthorization(client), server, SEED, 'latest');
    } finally {
      await client.close();
    }
    const seedConfig = { config: JSON.parse(seed.manifest.toString('utf8')).config };
    for (const [step, count] of [
      ['small', small],
      ['full', total],
    ]) {
      const already = step === 'small' ? 0 : small;
      const t0 = performance.now();
      await pushRepositories(server, seedConfig, already, count);
      const seconds = (performance.now() - t0) / 1000;
      say(`catalog setup: ${count - already} repositories pushed in ${seconds.toFixed(1)} s (${((count - already) / seconds).toFixed(0)}/s); ${count} in all`);
      // Past the store's catalog TTL, so the pages below read the list, not its first walk.
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      const results = {};
      for (const admin of [true, false]) {
        const who = admin ? 'admin' : 'anonymous';
        // Once unmeasured (a first _catalog walk, the first push-order pass), then three times.
        await catalogWalk(server, count, catalogPage, admin);
        await timeRequests(server, uiPages(count, uiPage, 'pushed', 1), { admin });
        const catalog = [];
        for (let round = 0; round < 3; round++) catalog.push(...(await catalogWalk(server, count, catalogPage, admin)));
        results[`_catalog n=${catalogPage}, ${who}`] = catalog;
        for (const sort of ['name', 'pushed']) results[`UI list by ${sort}, ${uiPage}/page, ${who}`] = await timeRequests(server, uiPages(count, uiPage, sort, 20), { admin });
      }
      measurements[step] = { repositories: count, pushSeconds: seconds, latencies: results };
      const memory = memoryOf(server.pid);
      say(`  memory after ${count} repositories: RSS ${((memory?.rss ?? NaN) / MiB).toFixed(1)} MiB, peak ${(wholeRunPeak(server.pid) / MiB).toFixed(1)} MiB`);
    }
    for (const label of Object.keys(measurements.full.latencies)) {
      const smallValues = measurements.small.latencies[label];
      const fullValues = measurements.full.latencies[label];
      rows.push({
        label,
        requests: fullValues.length,
        p50: percentile(fullValues, 50),
        p99: percentile(fullValues, 99),
        p50Small: percentile(smallValues, 50),
        growth: median(fullValues) / median(smallValues),
      });
    }
    rows.push({ label: 'idle RSS, fresh catalog server (MiB)', value: (server.idle?.rss ?? NaN) / MiB });
    rows.push({ label: `peak RSS, whole catalog phase (MiB)`, value: wholeRunPeak(server.pid) / MiB });
  } finally {
    await stopServer(server);
  }
  return {
    report() {
      say('');
      say(`Catalog: ${total} repositories (measured at ${small} first), one request at a time; latency in ms per page.`);
      say('"x growth" = median at the full count / median at a tenth of it: about 1 when a page costs the page only.');
      say('');
      say(`| what | requests | p50 | p99 | p50 at ${small} | x growth |`);
      say('|---|---:|---:|---:|---:|---:|');
      for (const row of rows) {
        if (row.value !== undefined) say(`| ${row.label} | | ${row.value.toFixed(1)} | | | |`);
        else say(`| ${row.label} | ${row.requests} | ${row.p50.toFixed(2)} | ${row.p99.toFixed(2)} | ${row.p50Small.toFixed(2)} | ${row.growth.toFixed(2)} |`);
      }
      mkdirSync(OUT_DIR, { recursive: true });
      writeFileSync(`${OUT_DIR}catalog.json`, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, total, small, catalogPage, uiPage, rows, measurements }, null, 2)}\n`);
      say(`\nwrote ${OUT_DIR}catalog.json`);
    },
  };
}

/** The same undici dispatcher, with the admin's Basic credentials on every request. */
function withAuthorization(client) {
  return {
    request: (options) => client.request({ ...options, headers: { authorization: basic, ...options.headers } }),
    close: () => client.close(),
  };
}
