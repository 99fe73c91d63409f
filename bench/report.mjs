/** Turns per-round measurements into the comparison table and the JSON results. */
import { median } from './load.mjs';
import { S3_WRITE_METRICS, WRITE_METRICS } from './writes.mjs';

/**
 * Metric definitions. `better` says which way is good; the ratio is always "how many times better
 * Berth is": Berth/peer for rates, peer/Berth for latencies and memory. `target` applies to that
 * ratio; `absolute` is a target on Berth's own value. `bigLabel` names the size of the memory
 * test's blob ("1 GiB" by default).
 */
export function metricsFor(bigLabel) {
  return [
    { key: 'pushMonolithic', label: 'blob push, monolithic (MiB/s)', better: 'higher', target: 1.2, digits: 0 },
    { key: 'pushChunked', label: 'blob push, chunked PATCH (MiB/s)', better: 'higher', target: 1.2, digits: 0 },
    { key: 'pull', label: 'blob pull + sha256 verify (MiB/s)', better: 'higher', target: 1.0, digits: 0 },
    { key: 'manifestGetRps', label: 'manifest GET (req/s)', better: 'higher', target: 1.5, digits: 0 },
    { key: 'manifestGetP99', label: 'manifest GET p99 (ms)', better: 'lower', digits: 2 },
    { key: 'blobHeadRps', label: 'blob HEAD (req/s)', better: 'higher', target: 1.5, digits: 0 },
    { key: 'blobHeadP99', label: 'blob HEAD p99 (ms)', better: 'lower', digits: 2 },
    { key: 'tagsListP50', label: 'tags list median (ms)', better: 'lower', target: 1.5, digits: 2 },
    { key: 'tagsListP99', label: 'tags list p99 (ms)', better: 'lower', digits: 2 },
    { key: 'cpuPushMonolithic', label: 'server CPU, monolithic push (s/GiB)', better: 'lower', digits: 2 },
    { key: 'cpuPushChunked', label: 'server CPU, chunked push (s/GiB)', better: 'lower', digits: 2 },
    { key: 'cpuPull', label: 'server CPU, pull (s/GiB)', better: 'lower', digits: 2 },
    { key: 'cpuManifestGet', label: 'server CPU, manifest GET (µs/req)', better: 'lower', digits: 0 },
    { key: 'cpuBlobHead', label: 'server CPU, blob HEAD (µs/req)', better: 'lower', digits: 0 },
    { key: 'tagPushRate', label: 'setup: tag PUTs, 32 in flight (tags/s)', better: 'higher', digits: 0 },
    { key: 'bigPush', label: `${bigLabel} push, streamed (MiB/s)`, better: 'higher', digits: 0 },
    { key: 'bigPull', label: `${bigLabel} pull + sha256 verify (MiB/s)`, better: 'higher', digits: 0 },
    { key: 'peakRssBig', label: `peak RSS during ${bigLabel} push+pull (MB)`, better: 'lower', absolute: { below: 150 }, digits: 1 },
    { key: 'idleRss', label: 'idle RSS, fresh server (MiB)', better: 'lower', absolute: { below: 85 }, digits: 1 },
    { key: 'peakRssRun', label: 'peak RSS over the whole run (MiB)', better: 'lower', absolute: { below: 110 }, digits: 1 },
    ...WRITE_METRICS,
  ];
}

export function ratioOf(metric, berth, peer) {
  if (!Number.isFinite(berth) || !Number.isFinite(peer) || berth <= 0 || peer <= 0) return NaN;
  return metric.better === 'higher' ? berth / peer : peer / berth;
}

/** One row per metric measured: medians over rounds, ratio, target and verdict. */
export function buildRows(results, hasPeer, bigLabel = '1 GiB') {
  const rows = [];
  for (const metric of metricsFor(bigLabel)) {
    const berthRounds = results.berth[metric.key];
    if (!berthRounds || berthRounds.length === 0) continue;
    const peerRounds = results.peer?.[metric.key] ?? [];
    const berth = median(berthRounds);
    const peer = hasPeer ? median(peerRounds) : NaN;
    const ratio = ratioOf(metric, berth, peer);
    let target = 'info';
    let verdict = '';
    if (metric.absolute) {
      target = `Berth < ${metric.absolute.below}`;
      verdict = berth < metric.absolute.below ? 'PASS' : 'MISS';
    } else if (metric.target !== undefined) {
      target = `>= ${metric.target.toFixed(1)}x`;
      verdict = !hasPeer ? 'n/a (no peer)' : Number.isFinite(ratio) ? (ratio >= metric.target ? 'PASS' : 'MISS') : 'n/a';
      if (hasPeer && metric.target === 1.0 && rangesOverlap(berthRounds, peerRounds)) verdict += '*';
    }
    rows.push({ key: metric.key, label: metric.label, better: metric.better, berth, peer, ratio, target, verdict, berthRounds, peerRounds, digits: metric.digits });
  }
  return rows;
}

/**
 * True when the two servers' per-round values overlap: on a shared machine the verdict of a
 * "parity" target then says less than the median suggests.
 */
export function rangesOverlap(a, b) {
  if (a.length < 2 || b.length < 2) return false;
  return Math.max(Math.min(...a), Math.min(...b)) <= Math.min(Math.max(...a), Math.max(...b));
}

const fmt = (value, digits) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

export function formatTable(rows, peerName) {
  const header = ['metric', 'Berth', peerName, 'ratio (x better)', 'target', 'result'];
  const lines = rows.map((row) => [row.label, fmt(row.berth, row.digits), fmt(row.peer, row.digits), Number.isFinite(row.ratio) ? `${row.ratio.toFixed(2)}x` : '-', row.target, row.verdict]);
  return table(header, lines, [false, true, true, true, false, false]);
}

export function formatRounds(rows, peerName) {
  const header = ['metric', 'Berth per round', `${peerName} per round`];
  const lines = rows.map((row) => [row.label, row.berthRounds.map((v) => fmt(v, row.digits)).join(' / '), row.peerRounds.map((v) => fmt(v, row.digits)).join(' / ') || '-']);
  return table(header, lines, [false, false, false]);
}

function table(header, lines, rightAlign) {
  const widths = header.map((cell, i) => Math.max(cell.length, ...lines.map((line) => line[i].length)));
  const render = (cells) => `| ${cells.map((cell, i) => (rightAlign[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (rightAlign[i] ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [render(header), rule, ...lines.map(render)].join('\n');
}

/**
 * The S3 phase's rows (bench/s3.mjs). Each compares a baseline with an S3 run: Berth on the
 * filesystem against Berth on S3, or one replica against two. The ratio is S3 run / baseline (for
 * rates > 1 means the S3 column is faster; for CPU, more). No throughput targets; the peak RSS of
 * one big transfer is judged per replica.
 */
export function s3MetricsFor({ chunkMiB, s3Clients, perClientMiB, bigMiB }) {
  const big = bigMiB % 1024 === 0 ? `${bigMiB / 1024} GiB` : `${bigMiB} MiB`;
  return [
    { key: 'push', label: 'blob push, monolithic: FS vs S3 (MiB/s)' },
    { key: 'pull', label: 'blob pull + sha256 verify: FS vs S3 (MiB/s)' },
    { key: 'chunked', label: `blob push, ${chunkMiB} MiB PATCHes: FS vs S3 alternating A/B (MiB/s)` },
    { key: 'parallelPush', label: `${s3Clients} clients push ${perClientMiB} MiB each: S3 via A vs via A+B (MiB/s total)` },
    { key: 'parallelPull', label: `${s3Clients} clients pull + verify: S3 via A vs via A+B (MiB/s total)` },
    { key: 'cpuPush', label: 'Berth CPU, monolithic push: FS vs S3 (s/GiB)', digits: 2 },
    { key: 'cpuPull', label: 'Berth CPU, pull: FS vs S3 (s/GiB)', digits: 2 },
    { key: 'rssA', label: `replica A: peak RSS during ${big} push+pull (MB)`, below: 150 },
    { key: 'rssB', label: `replica B: peak RSS during ${big} push+pull (MB)`, below: 150 },
    { key: 'rssPhaseA', label: 'replica A: peak RSS over the whole S3 phase (MB)', digits: 1 },
    { key: 'rssPhaseB', label: 'replica B: peak RSS over the whole S3 phase (MB)', digits: 1 },
    ...S3_WRITE_METRICS,
  ];
}

export function buildS3Rows(results, settings) {
  const rows = [];
  for (const metric of s3MetricsFor(settings)) {
    const s3Rounds = results.s3[metric.key] ?? [];
    if (s3Rounds.length === 0) continue;
    const baseRounds = results.base[metric.key] ?? [];
    const s3 = median(s3Rounds);
    const base = baseRounds.length > 0 ? median(baseRounds) : NaN;
    const ratio = Number.isFinite(base) && base > 0 ? s3 / base : NaN;
    const judged = metric.below !== undefined;
    rows.push({
      key: metric.key,
      label: metric.label,
      base,
      s3,
      ratio,
      target: judged ? `S3 < ${metric.below}` : 'info',
      verdict: judged ? (s3 < metric.below ? 'PASS' : 'MISS') : '',
      baseRounds,
      s3Rounds,
      digits: metric.digits ?? (judged ? 1 : 0),
    });
  }
  return rows;
}

export function formatS3Table(rows) {
  const header = ['metric', 'baseline', 'S3', 'ratio (S3/baseline)', 'target', 'result'];
  const lines = rows.map((row) => [row.label, fmt(row.base, row.digits), fmt(row.s3, row.digits), Number.isFinite(row.ratio) ? `${row.ratio.toFixed(2)}x` : '-', row.target, row.verdict]);
  return table(header, lines, [false, true, true, true, false, false]);
}

export function formatS3Rounds(rows) {
  const header = ['metric', 'baseline per round', 'S3 per round'];
  const lines = rows.map((row) => [row.label, row.baseRounds.map((v) => fmt(v, row.digits)).join(' / ') || '-', row.s3Rounds.map((v) => fmt(v, row.digits)).join(' / ')]);
  return table(header, lines, [false, false, false]);
}
