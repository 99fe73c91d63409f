#!/usr/bin/env node
/**
 * Summarizes a V8 .cpuprofile (from `BENCH_PROFILE=1 npm run bench`, which runs Berth with
 * --cpu-prof): the functions with the most self time, and the Berth functions (dist/) with the
 * most total time (self + callees).
 *
 *   node bench/profile-summary.mjs bench/out/profile/<file>.cpuprofile [top=25]
 */
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-summary.mjs <file.cpuprofile> [top]');
  process.exit(1);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));

// Self time per node from the sample intervals.
const self = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i + 1] ?? 0;
  self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt);
}
const totalUs = [...self.values()].reduce((a, b) => a + b, 0);

const where = ({ callFrame: f }) => {
  const url = f.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/').replace(/^node:/, 'node:');
  return `${f.functionName || '(anonymous)'} ${url ? `${url}:${f.lineNumber + 1}` : ''}`.trim();
};

// Self time grouped by function (several nodes can share one function).
const bySelf = new Map();
for (const [id, us] of self) {
  const key = where(nodes.get(id));
  bySelf.set(key, (bySelf.get(key) ?? 0) + us);
}

// Total (inclusive) time: each sample counts once for every distinct function on its stack.
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const inclusive = new Map();
for (const [id, us] of self) {
  const seen = new Set();
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const key = where(nodes.get(at));
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + us);
  }
}

const pct = (us) => `${((100 * us) / totalUs).toFixed(1).padStart(5)}%`;
console.log(`${file}: ${(totalUs / 1e6).toFixed(2)} s sampled`);
console.log(`\ntop ${top} by self time:`);
for (const [key, us] of [...bySelf].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${key}`);
console.log(`\ntop ${top} Berth (dist/) functions by total time:`);
for (const [key, us] of [...inclusive]
  .filter(([key]) => key.includes('dist/'))
  .sort((a, b) => b[1] - a[1])
  .slice(0, top))
  console.log(`${pct(us)}  ${key}`);
