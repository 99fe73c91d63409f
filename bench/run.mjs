#!/usr/bin/env node
/**
 * `npm run bench`: Berth against the CNCF reference registry (Debian's docker-registry), both as
 * child processes on 127.0.0.1 with temporary storage. Each measurement runs the two servers
 * alternately, round after round (the machine is small and shared), and the table shows medians.
 *
 * Environment (all optional):
 *   BENCH_ROUNDS=3            rounds per measurement
 *   BENCH_BLOB_ROUNDS=5       rounds for blob push/pull throughput (default: BENCH_ROUNDS if set, else 5)
 *   BENCH_BLOB_MB=256         size of the blob for push/pull throughput (MiB)
 *   BENCH_CHUNK_MB=16         PATCH chunk size for the chunked push (MiB)
 *   BENCH_REQUESTS=20000      requests per round for manifest GET and blob HEAD
 *   BENCH_CONNECTIONS=64      keep-alive connections for manifest GET and blob HEAD
 *   BENCH_LOAD_MAX_S=8        a manifest GET / blob HEAD round stops after this long, done or not
 *   BENCH_TAGS=5000           tags in the tags-list repository
 *   BENCH_TAG_REQUESTS=200    sequential tags-list GETs per round
 *   BENCH_BIG_MB=1024         size of the streamed blob for the memory measurement (MiB)
 *   BENCH_SKIP_1G=1           skip the big-blob memory measurement
 *   BENCH_PEER=0              run Berth alone even when docker-registry is installed
 *   BENCH_S3=0                skip the S3 phase (on when the Ceph tools and redis-server are installed)
 *   BENCH_S3_CLIENTS=4        parallel clients in the S3 phase's one-vs-two-replicas measurement
 *   BENCH_S3_WRITES=0         skip the S3 phase's write rows (bench/writes.mjs)
 *   BENCH_ONLY=push,chunked,pull,manifest,head,tags,big,catalog,credentials,ui,sync,s3   run only these phases (and the write
 *                             phases mput,tput,growth of bench/writes.mjs, whose header lists their settings)
 *   BENCH_SYNC_MIB=256        the layer the sync phase pulls through Berth (bench/sync.mjs)
 *   BENCH_REPOS=10000         repositories in the catalog phase (bench/catalog.mjs)
 *   BENCH_UI_REPOS=5000       repositories in the ui phase (bench/ui.mjs: UI pages cold and warm; BENCH_UI_TAGS=8000)
 *   BENCH_PROFILE=1           run Berth with --cpu-prof; profiles land in bench/out/profile/
 *   BENCH_BERTH_MAIN=path     run another Berth build's main.js (A/B a candidate change)
 *   BENCH_TIMEOUT_S=1500      hard limit for the whole run
 *
 * The `s3` phase (bench/s3.mjs, ~2 minutes) starts a throwaway Ceph radosgw and a redis-server, and
 * compares Berth on S3 with Berth on the filesystem, and two replicas sharing the bucket with one.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { makeVaryingBlob, pseudoRandomDigest, pseudoRandomStream } from './data.mjs';
import { runLoad } from './load.mjs';
import { OCI_MANIFEST, pullBlob, pushChunked, pushMonolithic, pushSmallImage, transferClient } from './registry-client.mjs';
import { buildRows, formatRounds, formatS3Rounds, formatS3Table, formatTable } from './report.mjs';
import { killS3ServicesSync, runS3Phase, s3Missing, stopS3Services } from './s3.mjs';
import { runWritePhases, WRITE_PHASES } from './writes.mjs';
import { cpuSecondsOf, killAllSync, logTails, memoryOf, peerAvailable, peerVersion, resetPeak, startServer, stopAll, wholeRunPeak } from './servers.mjs';
import { runCatalogPhase } from './catalog.mjs';
import { runCredentialsPhase } from './credentials.mjs';
import { runUiPhase } from './ui.mjs';
import { runSyncPhase } from './sync.mjs';

const MiB = 1024 * 1024;
const OUT_DIR = fileURLToPath(new URL('./out/', import.meta.url));
const DIST_MAIN = process.env.BENCH_BERTH_MAIN || fileURLToPath(new URL('../dist/main.js', import.meta.url));

function intFromEnv(name, fallback, min = 1) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}; got ${JSON.stringify(raw)}`);
  return value;
}

const PHASES = ['push', 'chunked', 'pull', 'manifest', 'head', 'tags', ...WRITE_PHASES, 'big', 'catalog', 'credentials', 'ui', 'sync', 's3'];
const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((s) => s.trim())) : undefined;
for (const phase of only ?? []) if (!PHASES.includes(phase)) throw new Error(`BENCH_ONLY: unknown phase "${phase}"; known: ${PHASES.join(', ')}`);

const SETTINGS = {
  rounds: intFromEnv('BENCH_ROUNDS', 3),
  // Blob rounds are cheap and the noisiest: 5 unless BENCH_ROUNDS or BENCH_BLOB_ROUNDS says otherwise.
  blobRounds: intFromEnv('BENCH_BLOB_ROUNDS', process.env.BENCH_ROUNDS ? intFromEnv('BENCH_ROUNDS', 3) : 5),
  blobMiB: intFromEnv('BENCH_BLOB_MB', 256),
  chunkMiB: intFromEnv('BENCH_CHUNK_MB', 16),
  requests: intFromEnv('BENCH_REQUESTS', 20_000),
  connections: intFromEnv('BENCH_CONNECTIONS', 64),
  tags: intFromEnv('BENCH_TAGS', 5000),
  tagConcurrency: 32,
  tagRequests: intFromEnv('BENCH_TAG_REQUESTS', 200),
  bigMiB: intFromEnv('BENCH_BIG_MB', 1024),
  skipBig: process.env.BENCH_SKIP_1G === '1' || process.env.BENCH_SKIP_1G === 'true',
  usePeer: process.env.BENCH_PEER !== '0',
  s3: process.env.BENCH_S3 !== '0',
  s3Clients: intFromEnv('BENCH_S3_CLIENTS', 4),
  profile: process.env.BENCH_PROFILE === '1',
  berthMain: DIST_MAIN,
  timeoutS: intFromEnv('BENCH_TIMEOUT_S', 1500),
  /** Per-measurement time limits: a round stops early rather than run away on a slow server. */
  loadMaxMs: intFromEnv('BENCH_LOAD_MAX_S', 8) * 1000,
  tagsListMaxMs: 30_000,
  tagSetupMaxMs: 180_000,
};
const enabled = (phase) => (only ? only.has(phase) : phase !== 'big' || !SETTINGS.skipBig) && (phase !== 's3' || SETTINGS.s3);
/** Why the S3 phase does not run, when it was asked for (or is on by default) but cannot. */
const s3Skipped = () => {
  if (only && !only.has('s3')) return undefined;
  if (!SETTINGS.s3) return 'skipped (BENCH_S3=0)';
  const missing = s3Missing();
  return missing.length > 0 ? `skipped: not installed: ${missing.join(', ')} (node test/setup/system-tools.mjs installs them)` : undefined;
};

const REPO_SMALL = 'bench/small';
const REPO_TAGS = 'bench/tags';
const REPO_PULL = 'bench/pull';
const REPO_PUSH = 'bench/push';
const REPO_BIG = 'bench/big';

let cleaningUp = false;

function say(line) {
  process.stdout.write(`${line}\n`);
}

/** Flushes dirty pages so one server's write-back does not land in the other's measurement. */
function syncDisks() {
  try {
    execFileSync('sync', { timeout: 60_000, stdio: 'ignore' });
  } catch {
    // best effort
  }
}

const sizeLabel = (mib) => (mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`);
const mibPerSecond = (bytes, ms) => bytes / MiB / (ms / 1000);
/** Server CPU seconds (user + system) spent since `cpu0`, per GiB moved. */
const cpuPerGiB = (pid, cpu0, bytes) => ((cpuSecondsOf(pid) - cpu0) * 2 ** 30) / bytes;

async function main() {
  if (!existsSync(DIST_MAIN)) throw new Error(`${DIST_MAIN} is missing: run \`npm run build\` first (npm run bench does)`);
  const hasPeer = SETTINGS.usePeer && peerAvailable();
  const kinds = hasPeer ? ['berth', 'peer'] : ['berth'];
  const version = hasPeer ? await peerVersion() : undefined;

  say(
    `Berth benchmark: ${cpus().length} CPU(s) ${cpus()[0]?.model ?? ''}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, load ${loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}, node ${process.version}`,
  );
  say(
    hasPeer
      ? `peer: ${version ?? 'docker-registry'}`
      : SETTINGS.usePeer
        ? 'docker-registry (/usr/bin/docker-registry) is not installed: running Berth alone, no ratios.'
        : 'BENCH_PEER=0: running Berth alone, no ratios.',
  );
  say(`settings: ${JSON.stringify({ ...SETTINGS, only: only ? [...only] : undefined })}`);
  const s3Skip = s3Skipped();
  if (s3Skip) say(`S3 phase ${s3Skip}`);

  const nodeArgs = SETTINGS.profile ? ['--cpu-prof', '--cpu-prof-dir', `${OUT_DIR}profile`] : [];
  const servers = {};
  const clients = {};
  for (const kind of kinds) {
    servers[kind] = await startServer(kind, kind === 'berth' ? { nodeArgs, main: DIST_MAIN } : {});
    clients[kind] = transferClient(servers[kind]);
    say(`started ${servers[kind].name} pid ${servers[kind].pid} on ${servers[kind].base}`);
  }

  const results = Object.fromEntries(kinds.map((kind) => [kind, {}]));
  const record = (kind, key, value) => (results[kind][key] ??= []).push(value);
  const notes = [];
  const memoryByPhase = [];
  let s3Results;
  let catalogResults;
  let credentialsResults;
  let uiResults;
  let syncResults;

  try {
    // Where the memory goes: each server's RSS and peak RSS after each phase.
    const noteMemory = (phase) => {
      const parts = kinds.map((kind) => {
        const memory = memoryOf(servers[kind].pid);
        memoryByPhase.push({ phase, server: kind, rssBytes: memory?.rss ?? null, peakBytes: memory?.hwm ?? null });
        return `${servers[kind].name} RSS ${((memory?.rss ?? NaN) / 1e6).toFixed(1)} MB, peak ${((memory?.hwm ?? NaN) / 1e6).toFixed(1)} MB`;
      });
      say(`  memory after ${phase}: ${parts.join('; ')}`);
    };

    // ---- setup: a small image, a blob to pull, the tags repository --------------------------
    const images = {};
    for (const kind of kinds) images[kind] = await pushSmallImage(clients[kind], servers[kind], REPO_SMALL, 'latest');

    const needBlob = enabled('push') || enabled('chunked') || enabled('pull');
    const blob = needBlob ? makeVaryingBlob(SETTINGS.blobMiB * MiB) : undefined;
    const pullDigests = {};
    if (enabled('pull')) {
      for (const kind of kinds) {
        pullDigests[kind] = blob.next();
        await pushMonolithic(clients[kind], servers[kind], REPO_PULL, blob.buffer, pullDigests[kind]);
      }
    }
    noteMemory('setup of blobs');

    if (enabled('tags')) {
      for (const kind of kinds) {
        const { pushed, seconds } = await pushTags(servers[kind], images[kind].manifest);
        record(kind, 'tagPushRate', pushed / seconds);
        say(`setup ${servers[kind].name}: ${pushed} tag PUTs in ${seconds.toFixed(1)} s`);
        if (pushed < SETTINGS.tags) notes.push(`${servers[kind].name}: only ${pushed} of ${SETTINGS.tags} tags were pushed within ${SETTINGS.tagSetupMaxMs / 1000} s`);
      }
      noteMemory('setup of tags');
    }

    // ---- measurements, alternating servers within each round ----------------------------------
    const measure = async (phase, title, run, rounds = SETTINGS.rounds) => {
      if (!enabled(phase)) return;
      for (let round = 1; round <= rounds; round++) {
        for (const kind of kinds) {
          const summary = await run(kind);
          say(`round ${round}/${rounds} ${servers[kind].name.padEnd(15)} ${title}: ${summary}`);
        }
      }
      noteMemory(phase);
    };

    await measure(
      'push',
      'blob push monolithic',
      async (kind) => {
        const digest = blob.next();
        syncDisks();
        const cpu0 = cpuSecondsOf(servers[kind].pid);
        const t0 = performance.now();
        await pushMonolithic(clients[kind], servers[kind], REPO_PUSH, blob.buffer, digest);
        const rate = mibPerSecond(blob.size, performance.now() - t0);
        const cpu = cpuPerGiB(servers[kind].pid, cpu0, blob.size);
        record(kind, 'pushMonolithic', rate);
        record(kind, 'cpuPushMonolithic', cpu);
        return `${rate.toFixed(0)} MiB/s, server CPU ${cpu.toFixed(2)} s/GiB`;
      },
      SETTINGS.blobRounds,
    );

    await measure(
      'chunked',
      `blob push chunked (${SETTINGS.chunkMiB} MiB PATCHes)`,
      async (kind) => {
        const digest = blob.next();
        syncDisks();
        const cpu0 = cpuSecondsOf(servers[kind].pid);
        const t0 = performance.now();
        await pushChunked(clients[kind], servers[kind], REPO_PUSH, blob.buffer, digest, SETTINGS.chunkMiB * MiB);
        const rate = mibPerSecond(blob.size, performance.now() - t0);
        const cpu = cpuPerGiB(servers[kind].pid, cpu0, blob.size);
        record(kind, 'pushChunked', rate);
        record(kind, 'cpuPushChunked', cpu);
        return `${rate.toFixed(0)} MiB/s, server CPU ${cpu.toFixed(2)} s/GiB`;
      },
      SETTINGS.blobRounds,
    );

    await measure(
      'pull',
      'blob pull + verify',
      async (kind) => {
        syncDisks();
        const cpu0 = cpuSecondsOf(servers[kind].pid);
        const t0 = performance.now();
        await pullBlob(clients[kind], REPO_PULL, pullDigests[kind], blob.size);
        const rate = mibPerSecond(blob.size, performance.now() - t0);
        const cpu = cpuPerGiB(servers[kind].pid, cpu0, blob.size);
        record(kind, 'pull', rate);
        record(kind, 'cpuPull', cpu);
        return `${rate.toFixed(0)} MiB/s, server CPU ${cpu.toFixed(2)} s/GiB`;
      },
      SETTINGS.blobRounds,
    );

    const loadOptions = { connections: SETTINGS.connections, count: SETTINGS.requests, maxMs: SETTINGS.loadMaxMs, warmup: Math.min(5000, SETTINGS.requests) };
    await measure('manifest', `manifest GET x${SETTINGS.requests}, ${SETTINGS.connections} conns`, async (kind) => {
      const result = await runLoad({
        ...loadOptions,
        cpuSeconds: () => cpuSecondsOf(servers[kind].pid),
        base: servers[kind].base,
        request: { method: 'GET', path: `/v2/${REPO_SMALL}/manifests/latest`, headers: { accept: OCI_MANIFEST } },
        check: (body) => {
          if (!body.equals(images[kind].manifest)) throw new Error(`${servers[kind].name} served different manifest bytes`);
        },
      });
      assertClean(servers[kind], 'manifest GET', result);
      record(kind, 'manifestGetRps', result.rps);
      record(kind, 'manifestGetP99', result.p99);
      record(kind, 'cpuManifestGet', result.cpuMicrosPerRequest);
      return `${result.rps.toFixed(0)} req/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, server CPU ${result.cpuMicrosPerRequest.toFixed(0)} µs/req (${result.requests} in ${result.seconds.toFixed(1)} s)`;
    });

    await measure('head', `blob HEAD x${SETTINGS.requests}, ${SETTINGS.connections} conns`, async (kind) => {
      const result = await runLoad({
        ...loadOptions,
        cpuSeconds: () => cpuSecondsOf(servers[kind].pid),
        base: servers[kind].base,
        request: { method: 'HEAD', path: `/v2/${REPO_SMALL}/blobs/${images[kind].layer.digest}` },
        // undici closes the connection after every HEAD; this client keeps it alive, as registry clients do.
        raw: true,
      });
      assertClean(servers[kind], 'blob HEAD', result);
      record(kind, 'blobHeadRps', result.rps);
      record(kind, 'blobHeadP99', result.p99);
      record(kind, 'cpuBlobHead', result.cpuMicrosPerRequest);
      return `${result.rps.toFixed(0)} req/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, server CPU ${result.cpuMicrosPerRequest.toFixed(0)} µs/req (${result.requests} in ${result.seconds.toFixed(1)} s)`;
    });

    await measure('tags', `tags list (${SETTINGS.tags} tags) x${SETTINGS.tagRequests}, sequential`, async (kind) => {
      const result = await runLoad({
        base: servers[kind].base,
        request: { method: 'GET', path: `/v2/${REPO_TAGS}/tags/list` },
        connections: 1,
        count: SETTINGS.tagRequests,
        maxMs: SETTINGS.tagsListMaxMs,
        warmup: Math.min(20, SETTINGS.tagRequests),
        check: (body) => {
          const tags = JSON.parse(body.toString('utf8')).tags ?? [];
          if (tags.length !== SETTINGS.tags) notes.push(`${servers[kind].name}: tags/list returned ${tags.length} tags, expected ${SETTINGS.tags}`);
        },
      });
      assertClean(servers[kind], 'tags list', result);
      record(kind, 'tagsListP50', result.p50);
      record(kind, 'tagsListP99', result.p99);
      return `p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms (${result.requests} in ${result.seconds.toFixed(1)} s)`;
    });

    await runWritePhases({ kinds, servers, rounds: SETTINGS.rounds, say, record, enabled, cpuSecondsOf, noteMemory });

    // ---- memory with one big blob, streamed in and out --------------------------------------
    if (enabled('big')) {
      const size = SETTINGS.bigMiB * MiB;
      const seed = `big-${size}`;
      const t0 = performance.now();
      const digest = pseudoRandomDigest(size, seed);
      say(`big blob: ${SETTINGS.bigMiB} MiB, ${digest} (digest computed in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      for (const kind of kinds) {
        const server = servers[kind];
        syncDisks();
        const before = memoryOf(server.pid);
        const reset = resetPeak(server.pid);
        let sampled = memoryOf(server.pid)?.rss ?? 0;
        const sampler = setInterval(() => {
          sampled = Math.max(sampled, memoryOf(server.pid)?.rss ?? 0);
        }, 20);
        try {
          const t1 = performance.now();
          await pushMonolithic(clients[kind], server, REPO_BIG, pseudoRandomStream(size, seed), digest, size);
          const pushMs = performance.now() - t1;
          const t2 = performance.now();
          await pullBlob(clients[kind], REPO_BIG, digest, size);
          const pullMs = performance.now() - t2;
          const after = memoryOf(server.pid);
          sampled = Math.max(sampled, after?.rss ?? 0);
          const peak = reset ? Math.max(after.hwm, sampled) : sampled;
          record(kind, 'bigPush', mibPerSecond(size, pushMs));
          record(kind, 'bigPull', mibPerSecond(size, pullMs));
          record(kind, 'peakRssBig', peak / 1e6);
          say(
            `${server.name.padEnd(15)} ${sizeLabel(SETTINGS.bigMiB)} blob: push ${mibPerSecond(size, pushMs).toFixed(0)} MiB/s, pull ${mibPerSecond(size, pullMs).toFixed(0)} MiB/s, ` +
              `peak RSS ${(peak / 1e6).toFixed(1)} MB (${reset ? 'VmHWM reset before the push' : 'VmRSS sampled every 20 ms; VmHWM reset refused'}), RSS before ${((before?.rss ?? 0) / 1e6).toFixed(1)} MB`,
          );
        } finally {
          clearInterval(sampler);
        }
      }
    }
    // Idle (read by startServer before any push) and the peak over every phase above, in MiB.
    for (const kind of kinds) {
      record(kind, 'idleRss', (servers[kind].idle?.rss ?? NaN) / MiB);
      record(kind, 'peakRssRun', wholeRunPeak(servers[kind].pid) / MiB);
    }

    // ---- _catalog and the UI's repository list over many repositories (bench/catalog.mjs) ---
    if (enabled('catalog')) catalogResults = await runCatalogPhase({ settings: SETTINGS, say, nodeArgs, main: DIST_MAIN });
    // ---- manifest reads by credential: htpasswd, API key, registry token, ID token (bench/credentials.mjs) ---
    if (enabled('credentials')) credentialsResults = await runCredentialsPhase({ settings: SETTINGS, say, nodeArgs, main: DIST_MAIN });
    // ---- the web UI's pages on a big registry, cold and warm (bench/ui.mjs) ---
    if (enabled('ui')) uiResults = await runUiPhase({ say, nodeArgs, main: DIST_MAIN });
    if (enabled('sync') && hasPeer) syncResults = await runSyncPhase({ settings: SETTINGS, say, nodeArgs, main: DIST_MAIN });

    // ---- Berth on S3 (its own servers, Ceph and Redis), after the rest: it loads the machine --
    if (enabled('s3') && !s3Skip) s3Results = await runS3Phase({ settings: SETTINGS, say, nodeArgs, main: DIST_MAIN, syncDisks });
  } finally {
    await Promise.allSettled(Object.values(clients).map((client) => client.close()));
  }

  const serverInfo = Object.fromEntries(kinds.map((kind) => [kind, { name: servers[kind].name, pid: servers[kind].pid }]));
  await stopAll();
  if (SETTINGS.profile) say(`CPU profiles of Berth: ${OUT_DIR}profile/ (summarize with: node bench/profile-summary.mjs <file.cpuprofile>)`);
  report(results, hasPeer, version, notes, serverInfo, memoryByPhase, s3Results, s3Skip);
  if (catalogResults) catalogResults.report();
  if (credentialsResults) credentialsResults.report();
  if (uiResults) uiResults.report();
  if (syncResults) syncResults.report();
}

function assertClean(server, what, result) {
  if (result.errors > 0) throw new Error(`${server.name} ${what}: ${result.errors} of ${result.requests} requests failed (first: ${result.firstError})`);
}

/** PUTs the same manifest under `tags` tags, `tagConcurrency` at a time. */
async function pushTags(server, manifest) {
  const pool = new Pool(server.base, { connections: SETTINGS.tagConcurrency, headersTimeout: 60_000, bodyTimeout: 60_000 });
  const width = String(SETTINGS.tags - 1).length;
  let next = 0;
  let pushed = 0;
  const started = performance.now();
  const deadline = started + SETTINGS.tagSetupMaxMs;
  const worker = async () => {
    while (next < SETTINGS.tags && performance.now() < deadline) {
      const tag = `v${String(next++).padStart(width, '0')}`;
      const response = await pool.request({ method: 'PUT', path: `/v2/${REPO_TAGS}/manifests/${tag}`, headers: { 'content-type': OCI_MANIFEST }, body: manifest });
      const text = await response.body.text();
      if (response.statusCode !== 201) throw new Error(`${server.name} PUT tag ${tag}: HTTP ${response.statusCode}: ${text.slice(0, 300)}`);
      pushed++;
    }
  };
  try {
    // The blobs the manifest references must be in the tags repository too.
    await pushSmallImageBlobsFor(server, manifest);
    await Promise.all(Array.from({ length: SETTINGS.tagConcurrency }, worker));
  } finally {
    await pool.close();
  }
  return { pushed, seconds: (performance.now() - started) / 1000 };
}

/** Mounts the small image's blobs from REPO_SMALL into REPO_TAGS (cross-repository mount). */
async function pushSmallImageBlobsFor(server, manifest) {
  const document = JSON.parse(manifest.toString('utf8'));
  const client = transferClient(server);
  try {
    for (const { digest } of [document.config, ...document.layers]) {
      const response = await client.request({ method: 'POST', path: `/v2/${REPO_TAGS}/blobs/uploads/?mount=${digest}&from=${REPO_SMALL}`, headers: { 'content-length': '0' } });
      await response.body.dump();
      if (response.statusCode !== 201) throw new Error(`${server.name}: mount of ${digest} into ${REPO_TAGS} answered HTTP ${response.statusCode}`);
    }
  } finally {
    await client.close();
  }
}

function report(results, hasPeer, version, notes, serverInfo, memoryByPhase, s3Results, s3Skip) {
  const peerName = 'docker-registry';
  const rows = buildRows(results, hasPeer, sizeLabel(SETTINGS.bigMiB));
  say('');
  say(`Results: medians of ${SETTINGS.blobRounds} round(s) for blob throughput, ${SETTINGS.rounds} for the rest; servers alternate within each round.`);
  say('"ratio (x better)" is how many times better Berth is: Berth/peer for rates (MiB/s, req/s),');
  say('peer/Berth for latencies and memory, so > 1 always means Berth is better.');
  say('');
  say(formatTable(rows, hasPeer ? peerName : `${peerName} (absent)`));
  say('');
  say(formatRounds(rows, peerName));
  if (!hasPeer) say('\ndocker-registry was not run: only absolute targets are judged.');
  if (rows.some((row) => row.verdict.endsWith('*'))) {
    say("\n* the two servers' per-round values overlap: on this shared machine the difference is within the noise.");
  }
  if (hasPeer) {
    say('Blob pulls are partly client-bound: the verifying client hashes on the same cores (see the server CPU rows).');
    say('Blob HEAD uses a minimal keep-alive client: undici closes the connection after every HEAD request.');
  }
  for (const note of notes) say(`note: ${note}`);
  if (s3Results) {
    say('');
    say(`S3 backend: Berth on Ceph radosgw (single node, memstore OSD, on this machine) with Redis; medians of ${SETTINGS.blobRounds} round(s), runs alternate within each round.`);
    say('"baseline vs S3": Berth on the filesystem vs Berth on S3 through replica A; for the parallel rows, S3 through replica A only');
    say('vs spread over replicas A and B (two Berth processes sharing the bucket and Redis). Ratio = S3 / baseline: > 1 means faster for MiB/s, more CPU for s/GiB.');
    say('');
    say(formatS3Table(s3Results.rows));
    say('');
    say(formatS3Rounds(s3Results.rows));
    for (const note of s3Results.notes) say(`note: ${note}`);
  } else if (s3Skip) {
    say(`\nS3 backend: ${s3Skip}`);
  }
  const s3Misses = (s3Results?.rows ?? []).filter((row) => row.verdict === 'MISS').map((row) => `S3 ${row.label}`);
  const misses = rows
    .filter((row) => row.verdict.startsWith('MISS'))
    .map((row) => `${row.label}${row.verdict.endsWith('*') ? ' (within noise)' : ''}`)
    .concat(s3Misses);
  say(misses.length === 0 ? '\nAll judged targets met.' : `\nMissed targets: ${misses.join('; ')}`);

  mkdirSync(OUT_DIR, { recursive: true });
  const file = `${OUT_DIR}results.json`;
  const document = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, totalMemBytes: totalmem(), loadavg: loadavg(), node: process.version },
    peer: hasPeer ? { binary: '/usr/bin/docker-registry', version } : null,
    settings: SETTINGS,
    only: only ? [...only] : null,
    servers: serverInfo,
    rows: rows.map(({ digits: _digits, ...row }) => ({ ...row, ratio: Number.isFinite(row.ratio) ? row.ratio : null, peer: Number.isFinite(row.peer) ? row.peer : null })),
    rounds: results,
    memoryByPhase,
    notes,
    s3: s3Results
      ? {
          rows: s3Results.rows.map(({ digits: _digits, ...row }) => ({ ...row, base: Number.isFinite(row.base) ? row.base : null, ratio: Number.isFinite(row.ratio) ? row.ratio : null })),
          rounds: s3Results.results,
          notes: s3Results.notes,
        }
      : { skipped: s3Skip ?? 'not run' },
  };
  writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`);
  say(`\nwrote ${file}`);
}

// ---- lifetime: a hard time limit, Ctrl-C, and crashes all stop both servers -------------------
async function shutdown(code, message) {
  if (cleaningUp) return;
  cleaningUp = true;
  if (message) process.stderr.write(`${message}\n`);
  await Promise.allSettled([stopAll(), stopS3Services()]);
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(130, '\ninterrupted: stopping servers'));
process.on('SIGTERM', () => void shutdown(143, 'terminated: stopping servers'));
process.on('exit', killAllSync);
process.on('exit', killS3ServicesSync);
const watchdog = setTimeout(() => void shutdown(2, `benchmark exceeded BENCH_TIMEOUT_S=${SETTINGS.timeoutS}: stopping`), SETTINGS.timeoutS * 1000);
watchdog.unref();

main().then(
  () => {
    clearTimeout(watchdog);
  },
  async (error) => {
    // After Ctrl-C or the time limit, requests fail because the servers are going away: not news.
    if (cleaningUp) return;
    process.stderr.write(`benchmark failed: ${error?.stack ?? error}\n`);
    for (const { name, log } of logTails()) if (log.trim()) process.stderr.write(`--- last output of ${name} ---\n${log}\n`);
    await shutdown(1);
  },
);
