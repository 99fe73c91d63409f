/**
 * The `sync` phase of `npm run bench` (issue 16): the pull-through cache in front of Debian's
 * docker-registry. An image with one BENCH_SYNC_MIB layer (default 256 MiB) is pushed to the
 * upstream; then, each measured on its own:
 *   - a pull straight from the upstream (the reference throughput);
 *   - the first pull through Berth (nothing cached): time to the manifest, time to the layer's first
 *     byte, throughput;
 *   - a second pull through Berth (served from its storage);
 *   - manifest GET on the cached tag vs on a tag pushed to Berth (a repository no rule mirrors), the
 *     same closed loop as the manifest row;
 *   - Berth's peak RSS over the first pull, beside its RSS before it (does not grow with the layer).
 * Targets (issue 16): first pull ≥ 0.8× direct, first byte < 1 s, cached manifest GET within 1.2× local.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { imageConfigBlob, pseudoRandomDigest, pseudoRandomStream } from './data.mjs';
import { median, runLoad } from './load.mjs';
import { OCI_MANIFEST, pullBlob, pushMonolithic, putManifest, pushSmallImage, transferClient } from './registry-client.mjs';
import { cpuSecondsOf, memoryOf, resetPeak, startServer, stopServer } from './servers.mjs';

const MiB = 1024 * 1024;
const REPO = 'library/bench-sync';

/** GET a blob, timing the first byte and the whole body; checks the digest. */
async function timedPull(dispatcher, repo, digest, size) {
  const started = performance.now();
  let firstByte;
  const received = await pullBlob(
    {
      dispatch(options, handler) {
        return dispatcher.dispatch(options, {
          ...handler,
          onData(chunk) {
            firstByte ??= performance.now();
            return handler.onData(chunk);
          },
        });
      },
    },
    repo,
    digest,
    size,
  );
  const ms = performance.now() - started;
  return { firstByteMs: (firstByte ?? performance.now()) - started, ms, mibPerSecond: received / MiB / (ms / 1000) };
}

export async function runSyncPhase({ settings, say, nodeArgs, main }) {
  const size = Number(process.env.BENCH_SYNC_MIB ?? 256) * MiB;
  const peer = await startServer('peer', { name: 'upstream docker-registry' });
  const results = { layerMiB: size / MiB };
  let berth;
  try {
    const upstream = transferClient(peer);
    const seed = 16;
    const digest = pseudoRandomDigest(size, seed);
    await pushMonolithic(upstream, peer, REPO, pseudoRandomStream(size, seed), digest, size);
    // An image config Berth accepts (a JSON object): the cached-tag rows need the image stored.
    const config = imageConfigBlob([digest]);
    await pushMonolithic(upstream, peer, REPO, config.bytes, config.digest);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.bytes.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size }],
      }),
    );
    await putManifest(upstream, REPO, 'latest', manifest);
    const direct = [];
    for (let round = 0; round < 2; round++) direct.push(await timedPull(upstream, REPO, digest, size));
    results.directMiBs = Math.max(...direct.map((item) => item.mibPerSecond));
    say(`  sync: direct from docker-registry ${results.directMiBs.toFixed(0)} MiB/s`);
    await upstream.close();

    berth = await startServer('berth', {
      name: 'Berth (pull-through)',
      nodeArgs,
      main,
      extend: (base) => ({ ...base, extensions: { sync: { registries: [{ urls: [peer.base], onDemand: true, content: [{ prefix: 'library/**' }] }] } } }),
    });
    const client = transferClient(berth);
    const rssBefore = memoryOf(berth.pid)?.rss ?? 0;
    resetPeak(berth.pid);
    const manifestStart = performance.now();
    const first = await client.request({ method: 'GET', path: `/v2/${REPO}/manifests/latest`, headers: { accept: OCI_MANIFEST } });
    await first.body.dump();
    if (first.statusCode !== 200) throw new Error(`first manifest GET through Berth: HTTP ${first.statusCode}`);
    results.firstManifestMs = performance.now() - manifestStart;
    const cpu0 = cpuSecondsOf(berth.pid);
    const cold = await timedPull(client, REPO, digest, size);
    results.firstPull = {
      firstByteMs: cold.firstByteMs,
      mibPerSecond: cold.mibPerSecond,
      ratioToDirect: cold.mibPerSecond / results.directMiBs,
      cpuSecondsPerGiB: ((cpuSecondsOf(berth.pid) - cpu0) * 1024 * MiB) / size,
    };
    results.rssBeforeMiB = rssBefore / MiB;
    results.peakRssMiB = (memoryOf(berth.pid)?.hwm ?? 0) / MiB;
    say(
      `  sync: first pull through Berth: manifest in ${results.firstManifestMs.toFixed(0)} ms, first byte in ${cold.firstByteMs.toFixed(0)} ms, ${cold.mibPerSecond.toFixed(0)} MiB/s (${(results.firstPull.ratioToDirect * 100).toFixed(0)}% of direct); RSS ${results.rssBeforeMiB.toFixed(0)} → peak ${results.peakRssMiB.toFixed(0)} MiB`,
    );
    // The layer is stored once the first pull's body ended; give the commit a moment.
    let stored = false;
    for (let tries = 0; tries < 100 && !stored; tries++) {
      const head = await client.request({ method: 'GET', path: `/v2/${REPO}/tags/list` });
      const tags = await head.body.json();
      stored = tags?.tags?.includes('latest') === true;
      if (!stored) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Otherwise the rows below would measure the pull-through's in-memory copy and its retries.
    if (!stored) throw new Error('the image pulled through Berth was not stored within 10 s (see its log)');
    const warm = [];
    for (let round = 0; round < 2; round++) warm.push(await timedPull(client, REPO, digest, size));
    results.cachedPullMiBs = Math.max(...warm.map((item) => item.mibPerSecond));
    say(`  sync: second pull through Berth ${results.cachedPullMiBs.toFixed(0)} MiB/s`);
    await client.close();

    const pool = new Pool(berth.base, { connections: settings.connections });
    await pushSmallImage(pool, berth, 'local/app', 'latest');
    await pool.close();
    const once = async (repo) =>
      (
        await runLoad({
          base: berth.base,
          request: { method: 'GET', path: `/v2/${repo}/manifests/latest`, headers: { accept: OCI_MANIFEST } },
          connections: settings.connections,
          count: settings.requests,
          maxMs: settings.loadMaxMs,
          warmup: Math.min(2000, settings.requests),
        })
      ).rps;
    // Round by round, alternating which goes first: neither gets the warmer process or the quieter machine.
    const cached = [];
    const local = [];
    for (let round = 0; round < Math.max(settings.rounds, 4); round++) {
      if (round % 2 === 0) {
        cached.push(await once(REPO));
        local.push(await once('local/app'));
      } else {
        local.push(await once('local/app'));
        cached.push(await once(REPO));
      }
    }
    results.cachedManifestRps = median(cached);
    results.localManifestRps = median(local);
    results.manifestRatio = results.localManifestRps / results.cachedManifestRps;
    say(`  sync: manifest GET, cached tag ${results.cachedManifestRps.toFixed(0)}/s vs local ${results.localManifestRps.toFixed(0)}/s (local/cached ${results.manifestRatio.toFixed(2)}×)`);
  } finally {
    if (berth) await stopServer(berth);
    await stopServer(peer);
  }
  return { results, report: () => console.log(formatSyncTable(results)) };
}

/** The phase's table for the report. */
export function formatSyncTable(results) {
  if (!results) return '';
  const row = (name, value, target) => `| ${name} | ${value} | ${target} |`;
  return [
    `Pull-through cache (\`sync\` phase), one ${results.layerMiB} MiB layer from Debian's docker-registry:`,
    '',
    '| measure | result | target |',
    '|---|---|---|',
    row('pull straight from the upstream', `${results.directMiBs.toFixed(0)} MiB/s`, ''),
    row('first pull through Berth', `${results.firstPull.mibPerSecond.toFixed(0)} MiB/s (${results.firstPull.ratioToDirect.toFixed(2)}× direct)`, '≥ 0.8× direct'),
    row('first pull: manifest answered / layer first byte', `${results.firstManifestMs.toFixed(0)} ms / ${results.firstPull.firstByteMs.toFixed(0)} ms`, 'first byte < 1 s'),
    row('second pull through Berth (cached)', `${results.cachedPullMiBs.toFixed(0)} MiB/s`, "Berth's pull rate"),
    row('manifest GET: cached tag / local tag', `${results.cachedManifestRps.toFixed(0)}/s / ${results.localManifestRps.toFixed(0)}/s (${results.manifestRatio.toFixed(2)}×)`, 'within 1.2×'),
    row('Berth RSS before / peak during the first pull', `${results.rssBeforeMiB.toFixed(0)} / ${results.peakRssMiB.toFixed(0)} MiB`, 'does not grow with the layer'),
    '',
  ].join('\n');
}
