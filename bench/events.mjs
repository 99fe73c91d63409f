#!/usr/bin/env node
/**
 * `npm run bench:events`: what extensions.events costs a push. Berth runs twice, alternately round
 * after round: without events, and with events on and a live HTTP sink (a receiver in a process of
 * its own that answers 202 to each event). Each round pushes BENCH_EVENT_PUSHES small images (two
 * blobs and a manifest each) from BENCH_EVENT_CLIENTS parallel clients; the table shows median pushes per
 * second and the difference. After the last round it waits until the sink has every event, so the
 * delivery keeps up too.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { pushSmallImage } from './registry-client.mjs';
import { startServer, stopAll } from './servers.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PUSHES = Number(process.env.BENCH_EVENT_PUSHES ?? 300);
const CLIENTS = Number(process.env.BENCH_EVENT_CLIENTS ?? 8);

// The sink runs in a process of its own, so its work does not slow this process's clients.
const SINK = `
  let received = 0;
  const server = require('node:http').createServer((request, response) => {
    request.resume();
    request.on('end', () => { received++; response.writeHead(202).end(); });
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', () => process.send({ received }));
`;
const sinkProcess = spawn(process.execPath, ['-e', SINK], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const sinkPort = await new Promise((resolve) => sinkProcess.once('message', (message) => resolve(message.port)));
const sinkUrl = `http://127.0.0.1:${sinkPort}/hook`;
const receivedCount = () =>
  new Promise((resolve) => {
    sinkProcess.once('message', (message) => resolve(message.received));
    sinkProcess.send('count');
  });

const servers = {
  off: await startServer('berth', { name: 'events off' }),
  on: await startServer('berth', { name: 'events on', extend: (config) => ({ ...config, extensions: { events: { enable: true, sinks: [{ type: 'http', address: sinkUrl, timeout: '5s' }] } } }) }),
};

async function round(server, label) {
  const pool = new Pool(server.base, { connections: CLIENTS });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let index = next++; index < PUSHES; index = next++) await pushSmallImage(pool, server, `bench/events-${label}-${index % 20}`, `t${index}`);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  return PUSHES / seconds;
}

const rates = { off: [], on: [] };
try {
  for (let index = 0; index < ROUNDS; index++) {
    for (const kind of index % 2 === 0 ? ['off', 'on'] : ['on', 'off']) rates[kind].push(await round(servers[kind], `${kind}${index}`));
    process.stdout.write(`round ${index + 1}/${ROUNDS}: off ${rates.off.at(-1).toFixed(1)}/s, on ${rates.on.at(-1).toFixed(1)}/s\n`);
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const expected = ROUNDS * PUSHES; // image.updated per push (+ repository.created per new repository)
  const until = Date.now() + 120_000;
  let received = await receivedCount();
  while (received < expected && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    received = await receivedCount();
  }
  const off = median(rates.off);
  const on = median(rates.on);
  console.log(`\n| pushes/s (${CLIENTS} clients, ${PUSHES} pushes, median of ${ROUNDS}) | events off | events on, live HTTP sink | difference |`);
  console.log('|---|---|---|---|');
  console.log(`| small image push | ${off.toFixed(1)} | ${on.toFixed(1)} | ${(((on - off) / off) * 100).toFixed(1)}% |`);
  console.log(`\nevents delivered to the sink: ${received} (at least ${expected} expected)`);
} finally {
  await stopAll();
  sinkProcess.kill();
}
