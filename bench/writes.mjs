/**
 * The write phases of `npm run bench` (issue 14): manifest PUTs and tag PUTs with 8 concurrent
 * clients, into one repository and spread over 8, and the cost of one new tag as a repository
 * grows (10 tags vs 10,000). Every round writes into fresh repositories, so rounds compare alike;
 * the growth phase keeps its big repository across rounds (it only grows by a few hundred tags).
 *
 *   BENCH_WRITE_CLIENTS=8        concurrent writers in the PUT phases
 *   BENCH_WRITE_MANIFESTS=1000   distinct manifests per manifest-PUT round
 *   BENCH_WRITE_TAGS=2000        tags per tag-PUT round (all on one manifest)
 *   BENCH_GROWTH_TAGS=10000      tags in the big repository of the growth phase
 *   BENCH_GROWTH_PUTS=200        sequential new-tag PUTs measured per repository and round
 *   BENCH_S3_WRITE_MANIFESTS=300 manifests and tags per PUT round in the S3 phase, where a write
 *   BENCH_S3_WRITE_TAGS=600      costs a Redis lock and a conditional PUT to Ceph on the same 2 cores
 *
 * Phases (BENCH_ONLY): mput, tput, growth.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { median, percentile } from './load.mjs';
import { OCI_MANIFEST, pushSmallImage, transferClient } from './registry-client.mjs';

export const WRITE_PHASES = ['mput', 'tput', 'growth'];

/** Rows of the main table (report.mjs adds them to its metrics). */
export const WRITE_METRICS = [
  { key: 'manifestPutOneRepo', label: 'manifest PUT, 8 clients, 1 repo (req/s)', better: 'higher', target: 1.5, digits: 0 },
  { key: 'manifestPutEightRepos', label: 'manifest PUT, 8 clients, 8 repos (req/s)', better: 'higher', target: 1.5, digits: 0 },
  { key: 'tagPutOneRepo', label: 'tag PUT, 8 clients, 1 repo (req/s)', better: 'higher', target: 1.5, digits: 0 },
  { key: 'tagPutEightRepos', label: 'tag PUT, 8 clients, 8 repos (req/s)', better: 'higher', target: 1.5, digits: 0 },
  { key: 'cpuManifestPut', label: 'server CPU, manifest PUT, 1 repo (µs/req)', better: 'lower', digits: 0 },
  { key: 'cpuTagPut', label: 'server CPU, tag PUT, 1 repo (µs/req)', better: 'lower', digits: 0 },
  { key: 'tagPutSmallP50', label: 'new tag PUT into a 10-tag repo, median (ms)', better: 'lower', digits: 2 },
  { key: 'tagPutBigP50', label: 'new tag PUT into a 10,000-tag repo, median (ms)', better: 'lower', digits: 2 },
  { key: 'tagPutGrowth', label: 'new tag PUT, 10,000-tag / 10-tag repo latency', better: 'lower', absolute: { below: 2 }, digits: 2 },
];

/** Rows of the S3 table (report.mjs): Berth on the filesystem (baseline) vs Berth on S3 with Redis locks. */
export const S3_WRITE_METRICS = [
  { key: 'manifestPutOneRepo', label: 'manifest PUT, 8 clients, 1 repo: FS vs S3 (req/s)' },
  { key: 'manifestPutEightRepos', label: 'manifest PUT, 8 clients, 8 repos: FS vs S3 (req/s)' },
  { key: 'tagPutOneRepo', label: 'tag PUT, 8 clients, 1 repo: FS vs S3 (req/s)' },
  { key: 'tagPutEightRepos', label: 'tag PUT, 8 clients, 8 repos: FS vs S3 (req/s)' },
  { key: 'tagPutSmallP50', label: 'new tag PUT into a 10-tag repo, median: FS vs S3 (ms)', digits: 2 },
  { key: 'tagPutBigP50', label: 'new tag PUT into a 10,000-tag repo, median: FS vs S3 (ms)', digits: 2 },
  { key: 'tagPutGrowth', label: 'new tag PUT, 10,000-tag / 10-tag repo latency: FS vs S3', digits: 2 },
];

function intFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be an integer >= 1; got ${JSON.stringify(raw)}`);
  return value;
}

const WRITES = {
  clients: intFromEnv('BENCH_WRITE_CLIENTS', 8),
  manifests: intFromEnv('BENCH_WRITE_MANIFESTS', 1000),
  tags: intFromEnv('BENCH_WRITE_TAGS', 2000),
  growthTags: intFromEnv('BENCH_GROWTH_TAGS', 10_000),
  growthPuts: intFromEnv('BENCH_GROWTH_PUTS', 200),
};
/** The S3 phase's PUT rounds: the same rows with fewer writes, so the whole bench stays near 15 minutes. */
export const S3_WRITES = { ...WRITES, manifests: intFromEnv('BENCH_S3_WRITE_MANIFESTS', 300), tags: intFromEnv('BENCH_S3_WRITE_TAGS', 600) };
const SOURCE = 'bench/wsource';

/** A manifest of the small image, made distinct by an annotation. */
function variant(image, label) {
  const document = JSON.parse(image.manifest.toString('utf8'));
  return Buffer.from(JSON.stringify({ ...document, annotations: { 'dev.berth.bench': label } }));
}

/** Mounts the small image's config and layer from SOURCE into `repo` (cross-repository mount). */
async function mountImage(server, image, repo) {
  const client = transferClient(server);
  try {
    for (const { digest } of [image.config, image.layer]) {
      const response = await client.request({ method: 'POST', path: `/v2/${repo}/blobs/uploads/?mount=${digest}&from=${SOURCE}`, headers: { 'content-length': '0' } });
      await response.body.dump();
      if (response.statusCode !== 201) throw new Error(`${server.name}: mount of ${digest} into ${repo} answered HTTP ${response.statusCode}`);
    }
  } finally {
    await client.close();
  }
}

async function putOne(dispatcher, server, { repo, reference, body }) {
  const response = await dispatcher.request({ method: 'PUT', path: `/v2/${repo}/manifests/${reference}`, headers: { 'content-type': OCI_MANIFEST }, body });
  const text = await response.body.text();
  if (response.statusCode !== 201) throw new Error(`${server.name} PUT ${repo}:${reference}: HTTP ${response.statusCode}: ${text.slice(0, 300)}`);
}

/**
 * Sends every PUT of `puts` ({ repo, reference, body }), `clients` at a time over keep-alive
 * connections; each client takes the next PUT when its last one is answered.
 */
async function putAll(server, puts, clients, cpuSeconds) {
  const pool = new Pool(server.base, { connections: clients, headersTimeout: 60_000, bodyTimeout: 60_000 });
  const latencies = [];
  let next = 0;
  const worker = async () => {
    while (next < puts.length) {
      const put = puts[next++];
      const t0 = performance.now();
      await putOne(pool, server, put);
      latencies.push(performance.now() - t0);
    }
  };
  try {
    const cpu0 = cpuSeconds();
    const started = performance.now();
    await Promise.all(Array.from({ length: clients }, worker));
    const seconds = (performance.now() - started) / 1000;
    const sorted = latencies.sort((a, b) => a - b);
    return { rps: puts.length / seconds, seconds, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), cpuMicros: ((cpuSeconds() - cpu0) * 1e6) / puts.length };
  } finally {
    await pool.close();
  }
}

/** `count` PUTs spread round-robin over `repos`; `make(i)` gives the reference and body of the i-th. */
function plan(repos, count, make) {
  return Array.from({ length: count }, (_, i) => ({ repo: repos[i % repos.length], ...make(i) }));
}

/**
 * The phases. `servers`/`kinds`: run.mjs's; `record(kind, key, value)` collects a round's value;
 * `enabled(phase)` says which of WRITE_PHASES run; `cpuSecondsOf(pid)` reads a server's CPU time;
 * `counts`: how many writes (WRITES, or S3_WRITES for the S3 phase).
 */
export async function runWritePhases({ kinds, servers, rounds, say, record, enabled, cpuSecondsOf, noteMemory, counts = WRITES }) {
  if (!WRITE_PHASES.some(enabled)) return;
  const images = {};
  for (const kind of kinds) {
    const client = transferClient(servers[kind]);
    try {
      images[kind] = await pushSmallImage(client, servers[kind], SOURCE, 'latest');
    } finally {
      await client.close();
    }
  }
  const cpuOf = (kind) => () => cpuSecondsOf(servers[kind].pid);
  const line = (round, kind, title, summary) => say(`round ${round}/${rounds} ${servers[kind].name.padEnd(15)} ${title}: ${summary}`);
  const format = (r) => `${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, server CPU ${r.cpuMicros.toFixed(0)} µs/req`;
  const repoSet = (prefix, round, n) => Array.from({ length: n }, (_, i) => `bench/${prefix}-r${round}-${i}`);

  const putPhase = async (phase, title, rows) => {
    if (!enabled(phase)) return;
    for (let round = 1; round <= rounds; round++) {
      for (const [key, cpuKey, repoCount] of rows) {
        for (const kind of kinds) {
          const repos = repoSet(`${phase}${repoCount}`, round, repoCount);
          for (const repo of repos) await mountImage(servers[kind], images[kind], repo);
          const puts =
            phase === 'mput'
              ? plan(repos, counts.manifests, (i) => ({ reference: `m${i}`, body: variant(images[kind], `${round}-${repoCount}-${i}`) }))
              : plan(repos, counts.tags, (i) => ({ reference: `t${i}`, body: images[kind].manifest }));
          const result = await putAll(servers[kind], puts, counts.clients, cpuOf(kind));
          record(kind, key, result.rps);
          if (cpuKey) record(kind, cpuKey, result.cpuMicros);
          line(round, kind, `${title}, ${counts.clients} clients, ${repoCount} repo(s)`, format(result));
        }
      }
    }
    noteMemory(phase);
  };
  await putPhase('mput', `manifest PUT x${counts.manifests}`, [
    ['manifestPutOneRepo', 'cpuManifestPut', 1],
    ['manifestPutEightRepos', undefined, 8],
  ]);
  await putPhase('tput', `tag PUT x${counts.tags}`, [
    ['tagPutOneRepo', 'cpuTagPut', 1],
    ['tagPutEightRepos', undefined, 8],
  ]);

  if (enabled('growth')) {
    const big = 'bench/growth-big';
    for (const kind of kinds) {
      await mountImage(servers[kind], images[kind], big);
      const t0 = performance.now();
      const filled = await putAll(
        servers[kind],
        plan([big], counts.growthTags, (i) => ({ reference: `g${i}`, body: images[kind].manifest })),
        counts.clients,
        cpuOf(kind),
      );
      say(`setup ${servers[kind].name}: ${counts.growthTags} tags into ${big} in ${((performance.now() - t0) / 1000).toFixed(1)} s (${filled.rps.toFixed(0)} req/s)`);
    }
    for (let round = 1; round <= rounds; round++) {
      for (const kind of kinds) {
        const small = `bench/growth-small-r${round}`;
        await mountImage(servers[kind], images[kind], small);
        await putAll(
          servers[kind],
          plan([small], 10, (i) => ({ reference: `g${i}`, body: images[kind].manifest })),
          1,
          cpuOf(kind),
        );
        // One writer, so each latency is one write's own; small and big alternate PUT by PUT.
        const latencies = { small: [], big: [] };
        const client = transferClient(servers[kind]);
        try {
          for (let i = 0; i < counts.growthPuts; i++) {
            for (const [which, repo] of [
              ['small', small],
              ['big', big],
            ]) {
              const t0 = performance.now();
              await putOne(client, servers[kind], { repo, reference: `n${round}-${i}`, body: images[kind].manifest });
              latencies[which].push(performance.now() - t0);
            }
          }
        } finally {
          await client.close();
        }
        const smallP50 = median(latencies.small);
        const bigP50 = median(latencies.big);
        record(kind, 'tagPutSmallP50', smallP50);
        record(kind, 'tagPutBigP50', bigP50);
        record(kind, 'tagPutGrowth', bigP50 / smallP50);
        line(
          round,
          kind,
          `new tag PUT, one writer, x${counts.growthPuts} each`,
          `10 tags ${smallP50.toFixed(2)} ms, ${counts.growthTags} tags ${bigP50.toFixed(2)} ms (x${(bigP50 / smallP50).toFixed(2)})`,
        );
      }
    }
    noteMemory('growth');
  }
}
