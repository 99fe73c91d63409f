/**
 * An HTTP proxy in front of an upstream registry for the sync tests: it counts the requests per
 * method and path (how many times Berth fetched a blob), and can cut a response after some bytes
 * (an upstream that dies mid-blob), slow it down, or hold it after some bytes until released (a
 * download caught in the middle), or hold even its headers (an upstream slow to answer at all).
 * Everything else passes through unchanged.
 */
import { createServer, request as forward, type IncomingMessage, type Server } from 'node:http';

export interface CountingProxy {
  url: string;
  /** `GET /v2/…` → how many requests. */
  counts: Map<string, number>;
  count(method: string, path: string): number;
  /** Responses to paths containing `fragment` end (socket destroyed) after `bytes` bytes of body. */
  cut(fragment: string, bytes: number): void;
  /** Responses to paths containing `fragment` send each chunk after `ms` milliseconds. */
  slow(fragment: string, ms: number): void;
  /** Responses to paths containing `fragment` stop after `bytes` bytes of body until `release()`. */
  hold(fragment: string, bytes: number): { release: () => void };
  /** Responses to paths containing `fragment` (of `method` only, if given) send nothing, not even their headers, until `release()`. */
  holdHeaders(fragment: string, method?: string): { release: () => void };
  clear(): void;
  stop(): Promise<void>;
}

export async function startCountingProxy(upstream: string): Promise<CountingProxy> {
  const target = new URL(upstream);
  const counts = new Map<string, number>();
  const cuts = new Map<string, number>();
  const slows = new Map<string, number>();
  const holds = new Map<string, { bytes: number; released: Promise<void> }>();
  const headerHolds = new Map<string, { method: string | undefined; released: Promise<void> }>();
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0]!;
    const key = `${request.method} ${path}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const cutAfter = [...cuts].find(([fragment]) => path.includes(fragment))?.[1];
    const delay = [...slows].find(([fragment]) => path.includes(fragment))?.[1];
    const held = [...holds].find(([fragment]) => path.includes(fragment))?.[1];
    const headersReleased = [...headerHolds].find(([fragment, hold]) => path.includes(fragment) && (hold.method === undefined || hold.method === request.method))?.[1].released;
    const outgoing = forward({ host: target.hostname, port: target.port, method: request.method, path: request.url, headers: { ...request.headers, host: target.host } }, (answer) => {
      if (headersReleased) {
        answer.pause();
        void headersReleased.then(() => {
          relay(answer);
          answer.resume();
        });
      } else relay(answer);
    });
    const relay = (answer: IncomingMessage) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      response.flushHeaders();
      let sent = 0;
      answer.on('data', (chunk: Buffer) => {
        const send = () => {
          if (cutAfter !== undefined && sent + chunk.length > cutAfter) {
            response.write(chunk.subarray(0, Math.max(0, cutAfter - sent)));
            response.socket?.destroy();
            answer.destroy();
            return;
          }
          sent += chunk.length;
          response.write(chunk);
        };
        if (held !== undefined && sent + chunk.length > held.bytes) {
          // The part up to the hold now, the rest once released.
          const before = chunk.subarray(0, Math.max(0, held.bytes - sent));
          const after = chunk.subarray(before.length);
          sent += before.length;
          response.write(before);
          if (after.length === 0) return;
          answer.pause();
          void held.released.then(() => {
            sent += after.length;
            response.write(after);
            answer.resume();
          });
          return;
        }
        if (delay === undefined) send();
        else {
          answer.pause();
          setTimeout(() => {
            send();
            answer.resume();
          }, delay);
        }
      });
      answer.on('end', () => setTimeout(() => response.end(), delay ?? 0));
    };
    outgoing.on('error', () => response.destroy());
    request.pipe(outgoing);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    counts,
    count: (method, path) => counts.get(`${method} ${path}`) ?? 0,
    cut: (fragment, bytes) => void cuts.set(fragment, bytes),
    slow: (fragment, ms) => void slows.set(fragment, ms),
    hold(fragment, bytes) {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      holds.set(fragment, { bytes, released });
      return { release };
    },
    holdHeaders(fragment, method) {
      let release!: () => void;
      headerHolds.set(fragment, { method, released: new Promise<void>((resolve) => (release = resolve)) });
      return { release };
    },
    clear() {
      headerHolds.clear();
      counts.clear();
      cuts.clear();
      slows.clear();
      holds.clear();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
