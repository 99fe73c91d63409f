/**
 * Records the requests a test server answers, seen from the raw Node server (so it needs no Fastify
 * hook, which cannot be added once the app listens). Lets a test see how a real client talked to
 * Berth, for example that skopeo mounted a blob (POST ?mount=&from= answered 201) instead of uploading it.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export interface LoggedRequest {
  method: string;
  /** Path and query as the client sent them (before Berth rewrites nested names). */
  url: string;
  status: number;
}

export interface RequestLog {
  requests: LoggedRequest[];
  stop(): void;
}

export function recordRequests(server: Server): RequestLog {
  const requests: LoggedRequest[] = [];
  const listener = (request: IncomingMessage, response: ServerResponse) => {
    // Read now: Fastify's rewriteUrl changes request.url once its own listener has run.
    const method = request.method ?? '';
    const url = request.url ?? '';
    response.on('finish', () => requests.push({ method, url, status: response.statusCode }));
  };
  server.prependListener('request', listener);
  return { requests, stop: () => server.off('request', listener) };
}
