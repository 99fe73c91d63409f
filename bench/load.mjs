/**
 * A closed-loop load generator: `connections` keep-alive connections (an undici Pool), each with one
 * request in flight, until `count` requests are done or `maxMs` has passed. Latency is measured
 * from sending to the end of the body.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { RawConnection } from './raw-http.mjs';

const REQUEST_TIMEOUT_MS = 30_000;
/** Warm-up (JIT, connections, caches) is bounded in time too. */
const WARMUP_MAX_MS = 1500;

/**
 * @param {object} options
 * @param {string} options.base           origin, http://127.0.0.1:port
 * @param {object} options.request        undici request options: method, path, headers
 * @param {number} options.connections
 * @param {number} options.count          requests to complete
 * @param {number} options.maxMs          stop early after this long
 * @param {number} [options.warmup]       requests sent first and not measured
 * @param {number} [options.expect=200]
 * @param {(body: Buffer) => void} [options.check]  called with the first measured body
 * @param {boolean} [options.raw]  use RawConnection (keep-alive HEAD) instead of an undici Pool
 * @param {() => number} [options.cpuSeconds]  the server's CPU time so far, to report CPU per request
 */
export async function runLoad({ base, request, connections, count, maxMs, warmup = 0, expect = 200, check, raw = false, cpuSeconds }) {
  if (raw) return runRaw({ base, request, connections, count, maxMs, warmup, expect, cpuSeconds });
  const pool = new Pool(base, {
    connections,
    pipelining: 1,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: 30_000,
  });
  try {
    if (warmup > 0) await drive(pool, request, connections, warmup, Math.min(maxMs, WARMUP_MAX_MS), expect);
    return await measured(cpuSeconds, () => drive(pool, request, connections, count, maxMs, expect, check));
  } finally {
    await pool.close();
  }
}

/** The same closed loop over RawConnections, one per worker; bodies are read and discarded. */
async function runRaw({ base, request, connections, count, maxMs, warmup, expect, cpuSeconds }) {
  const url = new URL(base);
  const pool = Array.from({ length: connections }, () => new RawConnection({ host: url.hostname, port: Number(url.port) }, REQUEST_TIMEOUT_MS));
  // drive() runs at most `connections` workers, each waiting for its answer, so one is always free.
  const free = [...pool];
  const fake = {
    async request({ method, path, headers }) {
      const connection = free.pop();
      try {
        const statusCode = await connection.request(method, path, headers);
        return { statusCode, body: { dump: async () => undefined, arrayBuffer: async () => new ArrayBuffer(0) } };
      } finally {
        free.push(connection);
      }
    },
  };
  try {
    if (warmup > 0) await drive(fake, request, connections, warmup, Math.min(maxMs, WARMUP_MAX_MS), expect);
    return await measured(cpuSeconds, () => drive(fake, request, connections, count, maxMs, expect));
  } finally {
    for (const connection of pool) connection.close();
  }
}

/** Adds the server's CPU microseconds per request to a drive() result. */
async function measured(cpuSeconds, run) {
  const before = cpuSeconds?.() ?? NaN;
  const result = await run();
  const after = cpuSeconds?.() ?? NaN;
  return { ...result, cpuMicrosPerRequest: ((after - before) * 1e6) / result.requests };
}

async function drive(pool, request, connections, count, maxMs, expect, check) {
  const latencies = new Float64Array(count);
  let issued = 0;
  let done = 0;
  let errors = 0;
  let firstError;
  let checked = !check;
  const started = performance.now();
  const deadline = started + maxMs;

  async function worker() {
    while (issued < count && performance.now() < deadline) {
      issued++;
      const t0 = performance.now();
      try {
        const response = await pool.request(request);
        if (!checked && response.statusCode === expect) {
          checked = true;
          check(Buffer.from(await response.body.arrayBuffer()));
        } else {
          await response.body.dump({ limit: Infinity });
        }
        if (response.statusCode !== expect) {
          errors++;
          firstError ??= `HTTP ${response.statusCode}`;
        }
      } catch (error) {
        errors++;
        firstError ??= error.message;
      }
      latencies[done++] = performance.now() - t0;
    }
  }

  await Promise.all(Array.from({ length: Math.min(connections, count) }, worker));
  const seconds = (performance.now() - started) / 1000;
  const sorted = latencies.subarray(0, done).sort();
  return {
    requests: done,
    errors,
    firstError,
    seconds,
    rps: done / seconds,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? NaN,
  };
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank];
}

export function median(values) {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
