/**
 * An HTTP receiver of CloudEvents written for the tests: every request is parsed with the SDK's own
 * `HTTP.toEvent`, and its behaviour can change while a test runs: accept, fail with a status, hang
 * (never answer), answer a redirect, answer a huge body, or go away entirely (stop listening). With
 * `tls` it listens with HTTPS (and, given `ca` and `requestCert`, asks for a client certificate).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type ServerOptions as TlsServerOptions } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { HTTP, type CloudEvent } from 'cloudevents';

export type ReceiverMode = { kind: 'accept' } | { kind: 'fail'; status: number } | { kind: 'hang' } | { kind: 'redirect'; location: string } | { kind: 'huge'; bytes: number } | { kind: 'trickle' };

export interface Received {
  event: CloudEvent<any>;
  headers: IncomingMessage['headers'];
  /** Over TLS: the CN of the client certificate the sender showed, if any. */
  clientCertificate?: string;
}

export interface EventReceiver {
  url: string;
  port: number;
  /** Events accepted (2xx answered), in order. */
  accepted: Received[];
  /** Every request seen, whatever the answer. */
  attempts: number;
  /** For the `huge` mode: bytes actually written before the client went away. */
  hugeBytesWritten: number;
  mode: ReceiverMode;
  /** Waits until `count` events are accepted (or throws after `ms`). */
  waitFor(count: number, ms?: number): Promise<Received[]>;
  /** Stops listening (connections refused) until `start()` again on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startReceiver(options: { tls?: TlsServerOptions } = {}): Promise<EventReceiver> {
  const port = 0;
  let server: Server | undefined;
  const receiver: EventReceiver = {
    url: '',
    port,
    accepted: [],
    attempts: 0,
    hugeBytesWritten: 0,
    mode: { kind: 'accept' },
    async waitFor(count, ms = 20_000) {
      const until = Date.now() + ms;
      while (receiver.accepted.length < count) {
        if (Date.now() > until) throw new Error(`receiver: ${receiver.accepted.length} of ${count} events after ${ms} ms (${receiver.attempts} attempts)`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return receiver.accepted;
    },
    async stop() {
      if (!server) return;
      const closing = new Promise((resolve) => server!.close(resolve));
      server.closeAllConnections();
      await closing;
      server = undefined;
    },
    async start() {
      server = options.tls ? createTlsServer(options.tls, (request, response) => void handle(request, response)) : createServer((request, response) => void handle(request, response));
      await new Promise<void>((resolve) => server!.listen(receiver.port, '127.0.0.1', resolve));
      const address = server.address();
      if (typeof address === 'object' && address) receiver.port = address.port;
      receiver.url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${receiver.port}/hook`;
    },
  };
  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    receiver.attempts++;
    const mode = receiver.mode;
    if (mode.kind === 'hang') return;
    // A failing sink that echoes the credentials it was sent: what Berth logs of an answer must not carry them.
    if (mode.kind === 'fail') return void response.writeHead(mode.status).end(`refused; you sent ${request.headers.authorization ?? 'nothing'}`);
    if (mode.kind === 'redirect') return void response.writeHead(307, { location: mode.location }).end();
    if (mode.kind === 'trickle') {
      // A 200 that never ends: a byte every 200 ms, each well within any idle timeout.
      response.writeHead(200, { 'content-type': 'text/plain' });
      const drip = setInterval(() => response.write('.'), 200);
      response.once('close', () => clearInterval(drip));
      return;
    }
    const event = HTTP.toEvent({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') }) as CloudEvent<any>;
    const peer = options.tls ? (request.socket as TLSSocket).getPeerCertificate() : undefined;
    receiver.accepted.push({ event, headers: request.headers, ...(peer?.subject ? { clientCertificate: String(peer.subject.CN) } : {}) });
    if (mode.kind === 'huge') {
      response.writeHead(200, { 'content-type': 'text/plain' });
      const block = Buffer.alloc(64 * 1024, 'x');
      let closed = false;
      response.once('close', () => (closed = true));
      while (receiver.hugeBytesWritten < mode.bytes && !closed) {
        receiver.hugeBytesWritten += block.length;
        if (!response.write(block)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              clearInterval(check);
              response.off('drain', done);
              resolve();
            };
            response.once('drain', done);
            const check = setInterval(() => closed && done(), 20);
          });
        }
      }
      return void response.end();
    }
    response.writeHead(202).end();
  }
  await receiver.start();
  return receiver;
}
