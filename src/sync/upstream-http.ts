/**
 * The HTTP plumbing of the sync's upstream client (upstream.ts): its error, reading challenges and
 * Link headers, bodies read within a limit or drained, responses whose body errors never go unheard.
 */
import type { Dispatcher } from 'undici';
import { RegistryError } from '../oci/errors.js';

/** What went wrong upstream, in the words the registry answers with. */
export type UpstreamFailure = 'not-found' | 'unauthorized' | 'denied' | 'unavailable' | 'invalid';

export class UpstreamError extends Error {
  constructor(
    readonly failure: UpstreamFailure,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** `Bearer realm="…",service="…",scope="…"` → its scheme and parameters; undefined when unreadable. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const match = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (const item of match[2]!.matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[item[1]!.toLowerCase()] = item[2] !== undefined ? item[2].replace(/\\(.)/g, '$1') : item[3]!;
  }
  return { scheme: match[1]!.toLowerCase(), params };
}

export const headerOf = (headers: Dispatcher.ResponseData['headers'], name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/**
 * A response whose body's errors never go unheard: a socket closed mid-body would otherwise be an
 * uncaught exception whenever no reader is attached yet. Readers still see the error (for await,
 * their own listeners).
 */
export async function heard(pending: Promise<Dispatcher.ResponseData>): Promise<Dispatcher.ResponseData> {
  const response = await pending;
  response.body.on('error', () => undefined);
  return response;
}

/** Reads a body to its end unheard (an error on the way, a closed socket, is of no interest). */
export function drain(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.resume();
}

export async function readLimited(body: Dispatcher.ResponseData['body'], limit: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw new UpstreamError('invalid', `${what} is larger than ${limit} bytes`);
    }
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

export const pause = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    // The listener goes with the pause: a signal that lives long (a periodic round's) gathers none.
    const aborted = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', aborted);
      resolve();
    }, ms);
    signal?.addEventListener('abort', aborted, { once: true });
  });

/** `work`, or an UpstreamError once `signal` aborts (the work itself goes on for whoever else awaits it). */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(new UpstreamError('unavailable', `${what}: no answer in time`));
  return new Promise<T>((resolve, reject) => {
    const aborted = () => reject(new UpstreamError('unavailable', `${what}: no answer in time`));
    signal.addEventListener('abort', aborted, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', aborted);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', aborted);
        reject(error as Error);
      },
    );
  });
}

export const tokenKey = (origin: string, challenge: Challenge, scope: string) => `${origin}\0${challenge.params.realm ?? ''}\0${challenge.params.service ?? ''}\0${scope}`;

/** The path and query of a `Link: <…>; rel="next"` header, or undefined. */
export function nextLink(header: string | undefined): string | undefined {
  const match = header ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(header) : null;
  if (!match) return undefined;
  const url = new URL(match[1]!, 'http://upstream.invalid');
  return url.pathname + url.search;
}

/** An upstream's failure in the registry's words: 404 stays 404; a refusal or an outage names the upstream. */
export function asRegistryError(error: unknown, detail: Record<string, string>, notFound: 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN' = 'MANIFEST_UNKNOWN'): RegistryError {
  if (error instanceof RegistryError) return error;
  if (!(error instanceof UpstreamError)) return new RegistryError('UPSTREAM_UNAVAILABLE', String((error as Error).message ?? error));
  if (error.failure === 'not-found') return new RegistryError(notFound, detail);
  if (error.failure === 'unauthorized' || error.failure === 'denied') return new RegistryError('UPSTREAM_REFUSED', error.message);
  if (error.failure === 'invalid') return new RegistryError('UPSTREAM_INVALID', error.message);
  return new RegistryError('UPSTREAM_UNAVAILABLE', error.message);
}
