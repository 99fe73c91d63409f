/**
 * The `s3` phase of `npm run bench`: Berth on its S3 backend, against Berth on the filesystem on
 * the same machine, and two replicas (two Berth processes sharing one bucket and one Redis)
 * against one. S3 is a throwaway single-node Ceph with radosgw (test/setup/ceph/ceph-up.sh, data
 * in the OSD's RAM) and Redis is Debian's redis-server, both on free 127.0.0.1 ports, started
 * for the phase and always stopped again (stopS3Services, or killS3ServicesSync from an 'exit'
 * handler). Their folders follow the test setup's conventions (berth-ceph-* and berth-redis-*
 * holding an `owner` PID file), so the test run's sweepers stop whatever a killed benchmark left.
 *
 * The big-blob memory measurement comes first, on fresh replicas: the parallel pushes later leave
 * each replica holding its pooled part buffers. Then each round runs the filesystem server and the
 * S3 replica alternately, deletes the round's objects and has RGW's garbage collector free them at
 * once: the memstore OSD keeps all data in RAM, and rounds of 256 MiB blobs would otherwise fill it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { AbortMultipartUploadCommand, CreateBucketCommand, DeleteObjectsCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { makeVaryingBlob, pseudoRandomDigest, pseudoRandomStream } from './data.mjs';
import { pullBlob, pushChunked, pushMonolithic, transferClient } from './registry-client.mjs';
import { buildS3Rows } from './report.mjs';
import { runWritePhases, S3_WRITES } from './writes.mjs';
import { cpuSecondsOf, freePort, memoryOf, resetPeak, startServer, stopServer } from './servers.mjs';

const MiB = 1024 * 1024;
const CEPH_UP = fileURLToPath(new URL('../test/setup/ceph/ceph-up.sh', import.meta.url));
const CEPH_DOWN = fileURLToPath(new URL('../test/setup/ceph/ceph-down.sh', import.meta.url));
const REDIS_SERVER = '/usr/bin/redis-server';
/** What ceph-up.sh runs (CEPH_NO_MGR=1: no ceph-mgr). */
const CEPH_TOOLS = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph', 'ceph-authtool', 'monmaptool', 'uuidgen', 'curl'];
/** ceph-up.sh takes ~5-8 s; its own waits give up well before this. */
const CEPH_UP_TIMEOUT_MS = 240_000;
const REGION = 'us-east-1';

const mibPerSecond = (bytes, ms) => bytes / MiB / (ms / 1000);
const sizeLabel = (mib) => (mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`);
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

/** The tools the phase needs that are not installed (empty when it can run). */
export function s3Missing() {
  const onPath = (name) => (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(path.join(dir, name)));
  return [...CEPH_TOOLS.filter((tool) => !onPath(tool)), ...(existsSync(REDIS_SERVER) ? [] : [REDIS_SERVER])];
}

// ---- services: Ceph (radosgw) and Redis ---------------------------------------------------------

/** The running services, for the teardown paths (normal end, error, Ctrl-C, process exit). */
let services;

/** Runs a command with `env`, collecting its output; never rejects. `onChild` sees the process. */
function run(command, args, env, timeoutMs, onChild) {
  return new Promise((resolve) => {
    // stdin is /dev/null: the daemons ceph-up.sh leaves running must not hold a pipe of ours open.
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    onChild?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => (stderr += error.message));
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const tail = (text, lines) => text.trimEnd().split('\n').slice(-lines).join('\n');

function pingRedis(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

async function startRedis(port) {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-redis-'));
  writeFileSync(path.join(dir, 'owner'), `${process.pid}\n`);
  services.redisDir = dir;
  // No persistence; --pidfile lets the test setup's sweeper find it should this process be killed.
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, '--pidfile', path.join(dir, 'redis.pid')];
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output = (output + chunk).slice(-4096)));
  child.stderr.on('data', (chunk) => (output = (output + chunk).slice(-4096)));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  services.redis = { child, exited };
  const deadline = Date.now() + 15_000;
  while (!(await pingRedis(port))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server on 127.0.0.1:${port} did not answer PING:\n${output}`);
    await sleep(50);
  }
  return `redis://127.0.0.1:${port}`;
}

async function startCeph(ports) {
  const cephDir = mkdtempSync(path.join(tmpdir(), 'berth-ceph-'));
  writeFileSync(path.join(cephDir, 'owner'), `${process.pid}\n`);
  services.cephDir = cephDir;
  const env = {
    ...process.env,
    CEPH_DIR: cephDir,
    CEPH_NO_MGR: '1',
    S3_PORT: String(ports[0]),
    CEPH_MON_PORT: String(ports[1]),
    CEPH_MON_V1_PORT: String(ports[2]),
    S3_ACCESS_KEY: `BB${randomBytes(9).toString('hex').toUpperCase()}`,
    S3_SECRET_KEY: randomBytes(20).toString('hex'),
  };
  // Kept so that a stop during the start kills the script first: it would go on starting daemons.
  const result = await run('bash', [CEPH_UP], env, CEPH_UP_TIMEOUT_MS, (child) => (services.cephUp = child));
  const printed = Object.fromEntries([...result.stdout.matchAll(/^(S3_ENDPOINT|S3_ACCESS_KEY|S3_SECRET_KEY)=(.*)$/gm)].map(([, key, value]) => [key, value]));
  if (result.code !== 0 || !printed.S3_ENDPOINT) throw new Error(`Ceph did not start (ceph-up.sh exit ${result.code}):\n${tail(result.stderr, 40)}`);
  return { endpoint: printed.S3_ENDPOINT, accessKey: printed.S3_ACCESS_KEY, secretKey: printed.S3_SECRET_KEY, cephDir };
}

/** Starts Ceph and Redis in parallel on free ports; makes the bucket the replicas share. */
async function startS3Services() {
  services = {};
  const ports = new Set();
  while (ports.size < 4) ports.add(await freePort());
  const [s3Port, monPort, monV1Port, redisPort] = [...ports];
  const [ceph, redisUrl] = await Promise.all([startCeph([s3Port, monPort, monV1Port]), startRedis(redisPort)]);
  // The SDK's notice that its 2027 releases need Node 22 says nothing about this benchmark.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new S3Client({
    endpoint: ceph.endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: ceph.accessKey, secretAccessKey: ceph.secretKey },
  });
  services.client = client;
  const bucket = `berth-bench-${randomBytes(4).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return { ...ceph, redisUrl, client, bucket };
}

export async function stopS3Services() {
  const current = services;
  services = undefined;
  if (!current) return;
  current.client?.destroy();
  current.cephUp?.kill('SIGKILL');
  if (current.redis && current.redis.child.exitCode === null && current.redis.child.signalCode === null) {
    current.redis.child.kill('SIGKILL'); // no data worth a clean shutdown
    await current.redis.exited;
  }
  if (current.redisDir) rmSync(current.redisDir, { recursive: true, force: true });
  if (current.cephDir) await run('bash', [CEPH_DOWN], { ...process.env, CEPH_DIR: current.cephDir }, 30_000);
}

/** Last resort from a synchronous 'exit' handler. */
export function killS3ServicesSync() {
  const current = services;
  services = undefined;
  if (!current) return;
  try {
    current.cephUp?.kill('SIGKILL');
    current.redis?.child.kill('SIGKILL');
  } catch {
    // already gone
  }
  if (current.redisDir) rmSync(current.redisDir, { recursive: true, force: true });
  if (current.cephDir) spawnSync('bash', [CEPH_DOWN], { env: { ...process.env, CEPH_DIR: current.cephDir }, stdio: 'ignore', timeout: 30_000 });
}

/** Pid of a Ceph daemon ("osd.0", "rgw.a") from ceph-up.sh's pids file. */
function cephPid(cephDir, name) {
  const line = readFileSync(path.join(cephDir, 'pids'), 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : undefined;
}

/**
 * Deletes every object and multipart upload in the bucket, then runs RGW's garbage collector now:
 * deleted data otherwise stays in the memstore OSD's RAM for 30-60 s.
 */
async function emptyBucket(s3) {
  const { client, bucket } = s3;
  for (;;) {
    const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    const uploads = page.Uploads ?? [];
    await Promise.all(uploads.map((upload) => client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }))));
    if (uploads.length === 0 || !page.IsTruncated) break;
  }
  // Each listing starts from the top again: deleting as we go never skips a page.
  for (;;) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (page.Contents ?? []).map((entry) => ({ Key: entry.Key }));
    if (keys.length === 0) break;
    const result = await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    if (result.Errors?.length) throw new Error(`deleting from ${bucket}: ${result.Errors.map((e) => `${e.Key}: ${e.Code}`).join('; ')}`);
  }
  const gc = await run('radosgw-admin', ['-c', path.join(s3.cephDir, 'ceph.conf'), 'gc', 'process', '--include-all'], process.env, 120_000);
  if (gc.code !== 0) throw new Error(`radosgw-admin gc process failed (exit ${gc.code}):\n${tail(gc.stderr, 20)}`);
}

// ---- measurements ---------------------------------------------------------------------------------

/** Path and query of a Location header. */
const pathOf = (server, location) => {
  const url = new URL(location, server.base);
  return url.pathname + url.search;
};

/**
 * A chunked push whose POST goes to the first replica and whose PATCHes and closing PUT go to
 * each replica in turn: any replica must carry on any session (shared record, resumed hash).
 */
async function pushChunkedAcross(replicas, repo, buffer, digest, chunkSize) {
  const check = async (response, expected, what) => {
    if (response.statusCode !== expected) throw new Error(`${what}: HTTP ${response.statusCode}, expected ${expected}: ${(await response.body.text()).slice(0, 500)}`);
    await response.body.dump();
  };
  const [first] = replicas;
  let response = await first.client.request({ method: 'POST', path: `/v2/${repo}/blobs/uploads/`, headers: { 'content-length': '0' } });
  await check(response, 202, `POST ${repo} upload`);
  let location = pathOf(first.server, response.headers.location);
  const chunks = Math.ceil(buffer.length / chunkSize);
  for (let i = 0; i < chunks; i++) {
    const { client, server } = replicas[(i + 1) % replicas.length];
    const start = i * chunkSize;
    const end = Math.min(start + chunkSize, buffer.length);
    response = await client.request({
      method: 'PATCH',
      path: location,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(end - start), 'content-range': `${start}-${end - 1}` },
      body: buffer.subarray(start, end),
    });
    await check(response, 202, `PATCH ${repo} chunk ${i + 1}/${chunks} via ${server.name}`);
    location = pathOf(server, response.headers.location);
  }
  const last = replicas[(chunks + 1) % replicas.length];
  const url = new URL(location, last.server.base);
  url.searchParams.set('digest', digest);
  response = await last.client.request({ method: 'PUT', path: url.pathname + url.search, headers: { 'content-length': '0' } });
  await check(response, 201, `PUT ${repo} chunked blob via ${last.server.name}`);
}

/** Runs `work` and returns its result with the highest RSS `pid` reached meanwhile (bytes). */
async function peakRssDuring(pid, work) {
  const reset = resetPeak(pid);
  let sampled = memoryOf(pid)?.rss ?? 0;
  // VmHWM covers all of it when the reset worked; sampling is the fallback (and catches nothing less).
  const sampler = setInterval(() => (sampled = Math.max(sampled, memoryOf(pid)?.rss ?? 0)), 20);
  try {
    const result = await work();
    const after = memoryOf(pid);
    return { result, peak: Math.max(sampled, after?.rss ?? 0, reset ? (after?.hwm ?? 0) : 0), reset };
  } finally {
    clearInterval(sampler);
  }
}

/** Server CPU seconds (user + system) of `pids` together. */
const cpuOf = (pids) => pids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);

/**
 * Runs `work` and returns its duration and the CPU seconds per GiB of `bytes` that the Berth
 * processes `berth` and the Ceph daemons `ceph` spent meanwhile.
 */
async function transfer(bytes, berth, ceph, work) {
  const [berth0, ceph0, t0] = [cpuOf(berth), cpuOf(ceph), performance.now()];
  await work();
  const ms = performance.now() - t0;
  const perGiB = (seconds) => (seconds * 2 ** 30) / bytes;
  return { ms, rate: mibPerSecond(bytes, ms), berthCpu: perGiB(cpuOf(berth) - berth0), cephCpu: perGiB(cpuOf(ceph) - ceph0) };
}

const cpuText = (t, ceph) => `Berth CPU ${t.berthCpu.toFixed(2)} s/GiB${ceph ? `, Ceph CPU ${t.cephCpu.toFixed(2)} s/GiB` : ''}`;

/**
 * The phase. `settings`: run.mjs's SETTINGS (blobRounds, blobMiB, chunkMiB, bigMiB, skipBig,
 * s3Clients); `nodeArgs` and `main` as for the other Berth; `syncDisks` flushes dirty pages before a
 * filesystem measurement. Returns the S3 table's rows and every round's values.
 */
export async function runS3Phase({ settings, say, nodeArgs, main, syncDisks }) {
  const servers = [];
  const clients = [];
  const connect = (server) => {
    const client = transferClient(server);
    clients.push(client);
    return client;
  };
  const launch = async (name, options = {}) => {
    const server = await startServer('berth', { nodeArgs, main, name, ...options });
    servers.push(server);
    say(`started ${name} pid ${server.pid} on ${server.base}, RSS ${mb(memoryOf(server.pid)?.rss ?? NaN)}`);
    return { server, client: connect(server) };
  };

  const results = { base: {}, s3: {} };
  const record = (side, key, value) => (results[side][key] ??= []).push(value);
  const notes = [];
  let sampler;
  try {
    const t0 = performance.now();
    const s3 = await startS3Services();
    say(`s3: Ceph radosgw at ${s3.endpoint} (memstore OSD, CEPH_DIR=${s3.cephDir}), Redis at ${s3.redisUrl}, bucket ${s3.bucket}: up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const storage = {
      storageDriver: { name: 's3', bucket: s3.bucket, regionendpoint: s3.endpoint, region: REGION, rootdirectory: 'registry', forcepathstyle: true },
      cacheDriver: { name: 'redis', url: s3.redisUrl, keyprefix: s3.bucket },
    };
    const env = { AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey };
    const fs = await launch('Berth FS');
    const a = await launch('Berth S3 A', { storage, env });
    const b = await launch('Berth S3 B', { storage, env });
    const ceph = ['osd.0', 'rgw.a'].map((name) => cephPid(s3.cephDir, name));
    // Each replica's highest RSS over the whole phase, the parallel pushes included.
    const phasePeak = { rssPhaseA: 0, rssPhaseB: 0 };
    const samplePhase = () => {
      phasePeak.rssPhaseA = Math.max(phasePeak.rssPhaseA, memoryOf(a.server.pid)?.rss ?? 0);
      phasePeak.rssPhaseB = Math.max(phasePeak.rssPhaseB, memoryOf(b.server.pid)?.rss ?? 0);
    };
    sampler = setInterval(samplePhase, 20);

    // ---- memory of each replica while a big blob streams in and out through it --------------
    // First, on fresh replicas: what one transfer costs, not what earlier parallel pushes left.
    if (settings.skipBig) {
      notes.push(`the ${sizeLabel(settings.bigMiB)} peak RSS measurement was skipped (BENCH_SKIP_1G=1)`);
    } else {
      const size = settings.bigMiB * MiB;
      const seed = `big-${size}`;
      const digest = pseudoRandomDigest(size, seed);
      for (const [key, { server, client }] of [
        ['rssA', a],
        ['rssB', b],
      ]) {
        const repo = `bench/big-${key.slice(3).toLowerCase()}`;
        const before = memoryOf(server.pid)?.rss ?? NaN;
        // Push and pull measured apart: the line says which of the two needs the memory.
        const push = await peakRssDuring(server.pid, () => transfer(size, [server.pid], ceph, () => pushMonolithic(client, server, repo, pseudoRandomStream(size, seed), digest, size)));
        const pull = await peakRssDuring(server.pid, () => transfer(size, [server.pid], ceph, () => pullBlob(client, repo, digest, size)));
        record('s3', key, Math.max(push.peak, pull.peak) / 1e6);
        say(
          `${server.name.padEnd(15)} ${sizeLabel(settings.bigMiB)} blob: push ${push.result.rate.toFixed(0)} MiB/s, pull ${pull.result.rate.toFixed(0)} MiB/s; ` +
            `peak RSS ${mb(push.peak)} pushing, ${mb(pull.peak)} pulling, ${mb(before)} before (${push.reset ? 'VmHWM reset before each' : 'VmRSS sampled every 20 ms; VmHWM reset refused'})`,
        );
        await emptyBucket(s3);
      }
    }

    const rounds = settings.blobRounds;
    const clientCount = settings.s3Clients;
    // The parallel pushes move as many bytes as one single push: the same total, split N ways.
    const perClientMiB = Math.max(1, Math.floor(settings.blobMiB / clientCount));
    const blob = makeVaryingBlob(settings.blobMiB * MiB);
    const clientBlobs = Array.from({ length: clientCount }, () => makeVaryingBlob(perClientMiB * MiB));
    // One connection per parallel client and replica, as N separate registry clients would have.
    const viaA = clientBlobs.map(() => ({ server: a.server, client: connect(a.server) }));
    const viaAB = clientBlobs.map((_, i) => (i % 2 === 0 ? viaA[i] : { server: b.server, client: connect(b.server) }));
    const osdPid = ceph[0];

    for (let round = 1; round <= rounds; round++) {
      // Fresh repositories every round: the bucket is emptied behind the replicas' backs.
      const repo = (what) => `bench/r${round}-${what}`;
      const line = (who, title, summary) => say(`round ${round}/${rounds} ${who.padEnd(15)} ${title}: ${summary}`);

      // FS and S3 alternate; the S3 side counts the Ceph daemons' CPU too.
      const sides = [
        ['base', fs, []],
        ['s3', a, ceph],
      ];
      const pushed = {};
      for (const [side, { server, client }, cephPids] of sides) {
        pushed[side] = blob.next();
        if (side === 'base') syncDisks();
        const t = await transfer(blob.size, [server.pid], cephPids, () => pushMonolithic(client, server, repo('push'), blob.buffer, pushed[side]));
        record(side, 'push', t.rate);
        record(side, 'cpuPush', t.berthCpu);
        line(server.name, `blob push monolithic ${sizeLabel(settings.blobMiB)}`, `${t.rate.toFixed(0)} MiB/s, ${cpuText(t, side === 's3')}`);
      }
      for (const [side, { server, client }, cephPids] of sides) {
        if (side === 'base') syncDisks();
        const t = await transfer(blob.size, [server.pid], cephPids, () => pullBlob(client, repo('push'), pushed[side], blob.size));
        record(side, 'pull', t.rate);
        record(side, 'cpuPull', t.berthCpu);
        line(server.name, 'blob pull + verify', `${t.rate.toFixed(0)} MiB/s, ${cpuText(t, side === 's3')}`);
      }

      const chunk = settings.chunkMiB * MiB;
      for (const side of ['base', 's3']) {
        const digest = blob.next();
        if (side === 'base') syncDisks();
        const t =
          side === 'base'
            ? await transfer(blob.size, [fs.server.pid], [], () => pushChunked(fs.client, fs.server, repo('chunked'), blob.buffer, digest, chunk))
            : await transfer(blob.size, [a.server.pid, b.server.pid], ceph, () => pushChunkedAcross([a, b], repo('chunked'), blob.buffer, digest, chunk));
        record(side, 'chunked', t.rate);
        line(
          side === 'base' ? fs.server.name : 'Berth S3 A+B',
          `blob push chunked (${settings.chunkMiB} MiB PATCHes${side === 's3' ? ', alternating A/B' : ''})`,
          `${t.rate.toFixed(0)} MiB/s, ${cpuText(t, side === 's3')}`,
        );
      }

      const total = clientCount * perClientMiB * MiB;
      for (const [side, targets, who] of [
        ['base', viaA, 'Berth S3 A'],
        ['s3', viaAB, 'Berth S3 A+B'],
      ]) {
        const digests = clientBlobs.map((each) => each.next());
        const where = repo(`parallel-${side}`);
        const pids = [a.server.pid, b.server.pid];
        const push = await transfer(total, pids, ceph, () => Promise.all(targets.map(({ server, client }, i) => pushMonolithic(client, server, where, clientBlobs[i].buffer, digests[i]))));
        const pull = await transfer(total, pids, ceph, () => Promise.all(targets.map(({ client }, i) => pullBlob(client, where, digests[i], clientBlobs[i].size))));
        record(side, 'parallelPush', push.rate);
        record(side, 'parallelPull', pull.rate);
        line(
          who,
          `${clientCount} clients x ${perClientMiB} MiB`,
          `push ${push.rate.toFixed(0)} MiB/s (${cpuText(push, true)}), pull + verify ${pull.rate.toFixed(0)} MiB/s (${cpuText(pull, true)}) in total`,
        );
      }

      const before = memoryOf(osdPid)?.rss ?? NaN;
      const cleaned = performance.now();
      await emptyBucket(s3);
      say(`round ${round}/${rounds} bucket emptied and garbage-collected in ${((performance.now() - cleaned) / 1000).toFixed(1)} s: ceph-osd RSS ${mb(before)} -> ${mb(memoryOf(osdPid)?.rss ?? NaN)}`);
    }

    // The write rows (bench/writes.mjs): Berth on the filesystem vs replica A on S3 with Redis locks.
    if (process.env.BENCH_S3_WRITES !== '0') {
      const sides = { base: fs.server, s3: a.server };
      await runWritePhases({ kinds: ['base', 's3'], servers: sides, rounds: settings.rounds, say, record, enabled: () => true, cpuSecondsOf, noteMemory: () => undefined, counts: S3_WRITES });
    }

    samplePhase();
    for (const [key, value] of Object.entries(phasePeak)) record('s3', key, value / 1e6);
    for (const { server } of [a, b]) say(`  memory after s3: ${server.name} RSS ${mb(memoryOf(server.pid)?.rss ?? NaN)}`);
    return { rows: buildS3Rows(results, { ...settings, perClientMiB }), results, notes };
  } finally {
    clearInterval(sampler);
    await Promise.allSettled(clients.map((client) => client.close()));
    await Promise.allSettled(servers.map((server) => stopServer(server)));
    await stopS3Services();
  }
}
