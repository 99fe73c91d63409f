/**
 * Slow bodies: a client that sends a body one byte at a time. Forms, JSON and manifests must arrive
 * within a short deadline (answered 408, then the socket closes); a blob upload may take as long as
 * it needs while bytes keep coming, and ends after a gap without any, its session kept as it was.
 * The server here runs with limits shortened to 1 s (deadline) and 1.5 s (idle gap).
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { OCI_MANIFEST, sha256 } from '../helpers/oci.js';

const AUTH = basicAuth('robot', 'robot-pw');
let berth: TestServer;

beforeAll(async () => {
  const htpasswd = await writeHtpasswd({ robot: 'robot-pw' });
  berth = await startBerth({ config: { extensions: { ui: { enable: true } }, http: { auth: { htpasswd: { path: htpasswd }, apikey: true } } }, bodyTime: { deadlineMs: 1_000, idleMs: 1_500 } });
});

afterAll(async () => {
  await berth?.close();
});

interface Trickle {
  /** Everything the server sent before it closed the socket (or the test gave up). */
  answer: string;
  closed: boolean;
  /** Body bytes sent before the answer or the close. */
  sent: number;
}

/**
 * Sends the request head, then `body` `step` bytes every `everyMs` (then nothing, when `stopAfter`
 * bytes are sent), until the server answers and closes or `giveUpMs` passes.
 */
function trickle(head: string, body: Buffer, options: { everyMs: number; step?: number; stopAfter?: number; giveUpMs: number; untilAnswered?: boolean }): Promise<Trickle> {
  return new Promise((resolve) => {
    const socket: Socket = connect(Number(berth.host.split(':')[1]), '127.0.0.1');
    const result: Trickle = { answer: '', closed: false, sent: 0 };
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      socket.destroy();
      resolve(result);
    };
    const giveUp = setTimeout(finish, options.giveUpMs);
    socket.on('data', (chunk) => {
      result.answer += chunk.toString('latin1');
      if (options.untilAnswered && result.answer.includes('\r\n\r\n')) finish();
    });
    socket.on('close', () => {
      result.closed = true;
      finish();
    });
    socket.on('error', () => undefined);
    socket.write(head);
    timer = setInterval(() => {
      if (result.sent >= (options.stopAfter ?? body.length) || socket.destroyed) return;
      const next = body.subarray(result.sent, result.sent + (options.step ?? 1));
      result.sent += next.length;
      socket.write(next);
    }, options.everyMs);
  });
}

const head = (method: string, path: string, length: number, headers: Record<string, string> = {}) =>
  [`${method} ${path} HTTP/1.1`, `Host: ${berth.host}`, `Content-Length: ${length}`, ...Object.entries(headers).map(([key, value]) => `${key}: ${value}`), '', ''].join('\r\n');

describe('a body that trickles in', () => {
  it.each([
    ['the sign-in form', 'POST', '/login', { 'content-type': 'application/x-www-form-urlencoded' }, 'Too slow'],
    ['a manifest', 'PUT', '/v2/slow/app/manifests/v1', { authorization: AUTH, 'content-type': OCI_MANIFEST }, '"code":"BODY_INVALID"'],
    ['an API key request', 'POST', '/zot/auth/apikey', { authorization: AUTH, 'content-type': 'application/json' }, '"code":"BODY_INVALID"'],
  ])('%s is answered 408 after the deadline and the socket closes', async (_name, method, path, headers, says) => {
    const started = Date.now();
    const result = await trickle(head(method, path, 4_000, headers), Buffer.alloc(4_000, 'a'), { everyMs: 100, giveUpMs: 6_000 });
    expect(result.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(result.answer).toContain(says);
    expect(result.closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(result.sent).toBeLessThan(100);
  });

  it('a blob chunk may take longer than the deadline while bytes keep coming', async () => {
    const start = await fetch(`${berth.url}/v2/slow/blob/blobs/uploads/`, { method: 'POST', headers: { authorization: AUTH } });
    const location = start.headers.get('location')!;
    const bytes = Buffer.alloc(30, 'b');
    const result = await trickle(head('PATCH', location, bytes.length, { authorization: AUTH, 'content-type': 'application/octet-stream' }), bytes, {
      everyMs: 100,
      giveUpMs: 8_000,
      untilAnswered: true,
    });
    expect(result.answer).toMatch(/^HTTP\/1\.1 202 /);
    expect(result.answer).toMatch(/range: 0-29/i);
  });

  it('a blob chunk that stops ends after the idle gap; the session keeps what arrived, and the rest completes it', async () => {
    const start = await fetch(`${berth.url}/v2/slow/blob/blobs/uploads/`, { method: 'POST', headers: { authorization: AUTH } });
    const location = start.headers.get('location')!;
    const first = Buffer.alloc(1000, 'x');
    expect((await fetch(`${berth.url}${location}`, { method: 'PATCH', body: first, headers: { authorization: AUTH, 'content-type': 'application/octet-stream' } })).status).toBe(202);
    const rest = Buffer.alloc(5000, 'y');
    const started = Date.now();
    const result = await trickle(head('PATCH', location, rest.length, { authorization: AUTH, 'content-type': 'application/octet-stream' }), rest, {
      everyMs: 10,
      step: 500,
      stopAfter: 2000,
      giveUpMs: 8_000,
    });
    expect(result.closed).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
    expect(Date.now() - started).toBeLessThan(6_000);
    const status = await fetch(`${berth.url}${location}`, { headers: { authorization: AUTH } });
    expect(status.status).toBe(204);
    // 1000 bytes before, and the 2000 of this chunk that arrived before it stopped.
    expect(status.headers.get('range')).toBe('0-2999');
    const all = Buffer.concat([first, rest]);
    expect((await fetch(`${berth.url}${location}`, { method: 'PATCH', body: rest.subarray(2000), headers: { authorization: AUTH, 'content-type': 'application/octet-stream' } })).status).toBe(202);
    const done = await fetch(`${berth.url}${location}?digest=${sha256(all)}`, { method: 'PUT', headers: { authorization: AUTH } });
    expect(done.status).toBe(201);
    const pulled = Buffer.from(await (await fetch(`${berth.url}/v2/slow/blob/blobs/${sha256(all)}`, { headers: { authorization: AUTH } })).arrayBuffer());
    expect(pulled.equals(all)).toBe(true);
  });
});
