/**
 * A load balancer for replica tests: an HTTP proxy on a loopback port that sends each request to
 * the next upstream in turn (per request, not per connection: the harshest spreading a real
 * balancer can do) and records which upstream served what.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';

export interface RoundRobin {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Where requests go, in turn; fill it once the replicas run. */
  upstreams: string[];
  /** `<upstream index> <method> <path>` per request, in order. */
  served: string[];
  close(): Promise<void>;
}

/** `upstreams` may be filled after the start (replicas whose config names the balancer's URL). */
export async function startRoundRobin(upstreams: string[]): Promise<RoundRobin> {
  let next = 0;
  const served: string[] = [];
  const server: Server = createServer((incoming, outgoing) => {
    const index = next++ % upstreams.length;
    const target = new URL(upstreams[index]!);
    served.push(`${index} ${incoming.method} ${incoming.url}`);
    const forwarded = httpRequest(
      { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: { ...incoming.headers, 'x-forwarded-for': incoming.socket.remoteAddress ?? '' } },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        answer.pipe(outgoing);
      },
    );
    forwarded.on('error', () => {
      if (!outgoing.headersSent) outgoing.writeHead(502);
      outgoing.end();
    });
    incoming.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('proxy has no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    upstreams,
    served,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
