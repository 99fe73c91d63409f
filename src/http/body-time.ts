/**
 * How long a request body may take. Blob uploads stream for as long as they need (gigabytes over a
 * slow link), but end after a long gap in which no byte arrives; every other body (a manifest, a
 * form, an API key request: small by their own limits) must arrive within a short deadline, which
 * the bounded readers apply (request-body.ts). Without both, a client sending one byte every few
 * seconds holds a socket and its memory for ever. Routes that stream a blob body say so with
 * `config.streamsBody`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RegistryError } from '../oci/errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route streams a blob body: an idle limit applies to it, not the deadline. */
    streamsBody?: boolean;
  }
  interface FastifyInstance {
    bodyTime: BodyTimeLimits;
  }
}

export interface BodyTimeLimits {
  /** Whole-body deadline of every route but blob uploads. */
  deadlineMs: number;
  /** Longest gap without a byte in a blob upload's body. */
  idleMs: number;
}

export const BODY_TIME_LIMITS: BodyTimeLimits = { deadlineMs: 20_000, idleMs: 5 * 60_000 };

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

export function limitBodyTime(app: FastifyInstance, limits: BodyTimeLimits): void {
  app.decorate('bodyTime', limits);
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.streamsBody !== true || !hasBody(request)) return;
    const { raw } = request;
    // The client went silent: there is nobody to answer. Destroying the body fails the append,
    // which undoes itself, so the upload session stays as it was before this request.
    raw.setTimeout(limits.idleMs, () => {
      request.log.info(`no byte of the body arrived for ${limits.idleMs / 1000} s; closing the connection`);
      raw.destroy(new RegistryError('REQUEST_TIMEOUT', `no byte of the body arrived for ${limits.idleMs / 1000} s`));
    });
    raw.once('end', () => raw.setTimeout(0));
  });
  // Answered before the body was read (a refusal, a route that takes no body): the rest of the
  // body is not waited for, however slowly it comes.
  app.addHook('onResponse', async (request) => {
    // After the other onResponse hooks (the audit line and the access log still read the peer's address).
    const socket = request.raw.socket;
    if (!request.raw.complete && socket) setImmediate(() => socket.destroy());
  });
}
