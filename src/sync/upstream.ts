/**
 * One upstream registry as the sync sees it: manifests, blobs, tags, the catalog and referrers over
 * the distribution API, with the authentication upstreams ask for. A request goes out bare (or
 * with what worked for that scope before); a 401 names the scheme: `Basic` gets the credentials
 * from credentialsFile, `Bearer realm=…,service=…,scope=…` (Docker Hub, ghcr.io, quay.io,
 * distribution's token mode) sends Berth to the realm for a token, cached per scope until it
 * expires. `urls` are tried in order while one is unreachable; network errors, 5xx and 429 are retried
 * `maxRetries` times, `retryDelay` doubling up to `maxRetryDelay`. A blob redirect (a CDN, a bucket) is
 * followed without the upstream's credentials. Nothing here writes: callers verify and store.
 */
import { rootCertificates } from 'node:tls';
import { Agent, type Dispatcher } from 'undici';
import type { SyncRegistryConfig } from '../config/config.js';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST, essence } from '../oci/media-types.js';
import { digestOf, parseDigest } from '../oci/digest.js';
import { drain, headerOf, heard, nextLink, parseChallenge, pause, readLimited, tokenKey, untilAborted, UpstreamError, type Challenge } from './upstream-http.js';

export { parseChallenge, UpstreamError, type UpstreamFailure } from './upstream-http.js';

export interface UpstreamManifest {
  bytes: Buffer;
  mediaType: string;
  /** Computed from the bytes (and checked against the upstream's Docker-Content-Digest). */
  digest: string;
}

export interface UpstreamBlob {
  body: Dispatcher.ResponseData['body'];
  /** From Content-Length; undefined when the upstream did not say. */
  length: number | undefined;
}

export interface UpstreamLog {
  warn(facts: object, message: string): void;
}

/** Every manifest type Berth stores, in the Accept header (never Docker's schema 1). */
const MANIFEST_ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST].join(', ');
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_JSON_BYTES = 4 * 1024 * 1024;
/** A token without `expires_in` lives 60 s (the distribution token spec's default). */
const DEFAULT_TOKEN_SECONDS = 60;
const MAX_REDIRECTS = 5;
/** Pages of a tag list or the catalog at most (1000 entries each): an upstream that never ends its list is cut off. */
const MAX_PAGES = 10_000;
/** A token request ends after this, whoever waits for it. */
const TOKEN_TIMEOUT_MS = 30_000;
/** Tokens kept per upstream at most (one per repository pulled within their lifetime). */
const MAX_TOKENS = 1_000;

interface SendOptions {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /** The token scope this request needs (`repository:<name>:pull`, `registry:catalog:*`). */
  scope: string;
  signal?: AbortSignal;
  /** Retries for this request (default: the upstream's maxRetries); freshness checks ask for none. */
  retries?: number;
}

export class Upstream {
  private readonly agent: Agent;
  /** Agent for redirect targets (a CDN): no client certificate, the default trust. */
  private readonly elsewhere: Agent;
  /**
   * Agent for a token service on another host than the upstream's (auth.docker.io for
   * registry-1.docker.io): always verified, trusting the default CAs and certDir's, no client certificate.
   */
  private readonly tokenElsewhere: Agent;
  /** Per origin: the scheme and parameters it last challenged with, so the next request sends the answer up front. */
  private readonly challenges = new Map<string, Challenge>();
  private readonly tokens = new Map<string, { token: string; until: number }>();
  private readonly tokenRequests = new Map<string, Promise<string>>();

  constructor(
    readonly config: SyncRegistryConfig,
    private readonly log: UpstreamLog,
  ) {
    const tls = config.tls;
    this.agent = new Agent({
      connections: config.reqConcurrent,
      connect: { rejectUnauthorized: config.tlsVerify, ...(tls?.ca ? { ca: tls.ca } : {}), ...(tls?.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}) },
      headersTimeout: 60_000,
      bodyTimeout: 120_000,
    });
    this.elsewhere = new Agent({ connections: config.reqConcurrent, headersTimeout: 60_000, bodyTimeout: 120_000 });
    this.tokenElsewhere = new Agent({ connect: tls?.ca ? { ca: [...rootCertificates, tls.ca] } : {}, headersTimeout: 60_000, bodyTimeout: 60_000 });
  }

  /** The first URL: how logs and the UI name this upstream. */
  get name(): string {
    return this.config.urls[0] ?? '';
  }

  /**
   * A manifest by tag or digest, its digest computed and checked: against the reference when it is
   * a digest, and against the upstream's Docker-Content-Digest when it sends one.
   */
  async manifest(repository: string, reference: string, signal?: AbortSignal): Promise<UpstreamManifest> {
    const response = await this.send(`/v2/${repository}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT }, scope: `repository:${repository}:pull`, ...(signal ? { signal } : {}) });
    await this.refuseFailure(response, `manifest ${repository}:${reference}`);
    const declared = Number(headerOf(response.headers, 'content-length'));
    if (declared > MAX_MANIFEST_BYTES) {
      response.body.destroy();
      throw new UpstreamError('invalid', `manifest ${repository}:${reference} is ${declared} bytes, more than ${MAX_MANIFEST_BYTES}`);
    }
    const bytes = await readLimited(response.body, MAX_MANIFEST_BYTES, `manifest ${repository}:${reference}`);
    const mediaType = essence(headerOf(response.headers, 'content-type')) || mediaTypeInside(bytes);
    const wanted = parseDigest(reference);
    const announced = parseDigest(headerOf(response.headers, 'docker-content-digest') ?? '');
    const algorithm = wanted?.algorithm ?? announced?.algorithm ?? 'sha256';
    const digest = digestOf(bytes, algorithm).value;
    if (wanted && digest !== wanted.value) throw new UpstreamError('invalid', `manifest ${repository}@${reference}: the upstream's bytes have digest ${digest}`);
    if (announced && announced.algorithm === algorithm && announced.value !== digest) {
      throw new UpstreamError('invalid', `manifest ${repository}:${reference}: the upstream announced ${announced.value} but its bytes have digest ${digest}`);
    }
    return { bytes, mediaType, digest };
  }

  /** The digest a tag points at upstream (HEAD), quickly: no retries, a short deadline. */
  async manifestDigest(repository: string, reference: string, timeoutMs: number): Promise<string | undefined> {
    const signal = AbortSignal.timeout(timeoutMs);
    const response = await this.send(`/v2/${repository}/manifests/${reference}`, { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT }, scope: `repository:${repository}:pull`, signal, retries: 0 });
    await this.refuseFailure(response, `manifest ${repository}:${reference}`);
    drain(response.body);
    return parseDigest(headerOf(response.headers, 'docker-content-digest') ?? '')?.value;
  }

  /** A blob's body as it arrives (the caller hashes and stores it); redirects followed without credentials. */
  async blob(repository: string, digest: string, signal?: AbortSignal): Promise<UpstreamBlob> {
    let response = await this.send(`/v2/${repository}/blobs/${digest}`, { scope: `repository:${repository}:pull`, ...(signal ? { signal } : {}) });
    // A relative Location resolves against the URL that answered it: the upstream, then each hop.
    let base = `${this.originOf.get(response) ?? this.config.urls[0]}/v2/${repository}/blobs/${digest}`;
    for (let hop = 0; response.statusCode >= 300 && response.statusCode < 400 && hop < MAX_REDIRECTS; hop++) {
      const location = headerOf(response.headers, 'location');
      drain(response.body);
      if (!location) throw new UpstreamError('invalid', `blob ${repository}@${digest}: a redirect without a Location`);
      const target = new URL(location, base);
      base = target.href;
      if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new UpstreamError('invalid', `blob ${repository}@${digest}: a redirect to ${target.protocol}`);
      const sameOrigin = this.config.urls.includes(target.origin);
      // The upstream's credentials stay with the upstream: a CDN or bucket URL carries its own signature.
      response = await heard(
        (sameOrigin ? this.agent : this.elsewhere).request({
          origin: target.origin,
          path: target.pathname + target.search,
          method: 'GET',
          ...(sameOrigin ? { headers: await this.authorizationFor(target.origin, `repository:${repository}:pull`) } : {}),
          ...(signal ? { signal } : {}),
        }),
      );
    }
    await this.refuseFailure(response, `blob ${repository}@${digest}`);
    const length = headerOf(response.headers, 'content-length');
    return { body: response.body, length: length === undefined ? undefined : Number(length) };
  }

  /** Tags of a repository, every page (`Link: <…?n=…&last=…>; rel="next"`). */
  async tags(repository: string, signal?: AbortSignal): Promise<string[]> {
    const found: string[] = [];
    const pages = new Pages(`tags of ${repository}`, `/v2/${repository}/tags/list?n=1000`);
    for (let next: string | undefined = pages.first; next; pages.visit(next)) {
      const response = await this.send(next, { scope: `repository:${repository}:pull`, ...(signal ? { signal } : {}) });
      await this.refuseFailure(response, `tags of ${repository}`);
      const page = JSON.parse((await readLimited(response.body, MAX_JSON_BYTES, `tags of ${repository}`)).toString('utf8')) as { tags?: string[] | null };
      found.push(...(page.tags ?? []));
      next = nextLink(headerOf(response.headers, 'link'));
    }
    return found;
  }

  /** Repository names upstream, every page. */
  async catalog(signal?: AbortSignal): Promise<string[]> {
    const found: string[] = [];
    const pages = new Pages('the catalog', '/v2/_catalog?n=1000');
    for (let next: string | undefined = pages.first; next; pages.visit(next)) {
      const response = await this.send(next, { scope: 'registry:catalog:*', ...(signal ? { signal } : {}) });
      await this.refuseFailure(response, 'the catalog');
      const page = JSON.parse((await readLimited(response.body, MAX_JSON_BYTES, 'the catalog')).toString('utf8')) as { repositories?: string[] | null };
      found.push(...(page.repositories ?? []));
      next = nextLink(headerOf(response.headers, 'link'));
    }
    return found;
  }

  /** The referrers index of a manifest, or undefined when the upstream has no referrers API. */
  async referrers(repository: string, digest: string, signal?: AbortSignal): Promise<{ manifests?: Array<{ digest: string; mediaType: string; artifactType?: string }> } | undefined> {
    const response = await this.send(`/v2/${repository}/referrers/${digest}`, { scope: `repository:${repository}:pull`, ...(signal ? { signal } : {}) });
    if (response.statusCode === 404 || response.statusCode === 405) {
      drain(response.body);
      return undefined;
    }
    await this.refuseFailure(response, `referrers of ${repository}@${digest}`);
    return JSON.parse((await readLimited(response.body, MAX_JSON_BYTES, `referrers of ${repository}@${digest}`)).toString('utf8')) as { manifests?: Array<{ digest: string; mediaType: string }> };
  }

  async close(): Promise<void> {
    // After the pulls settled, what is still in flight has no one waiting (a token request that hangs): cut it.
    await Promise.all([this.agent.destroy(), this.elsewhere.destroy(), this.tokenElsewhere.destroy()]);
  }

  /** Which URL answered each response (a redirect's relative Location resolves against it). */
  private readonly originOf = new WeakMap<Dispatcher.ResponseData, string>();

  /**
   * One request to the first URL that answers, authenticated as the upstream asks, retried on
   * network errors, 5xx and 429. The response is the caller's to read (or to drain).
   */
  private async send(path: string, options: SendOptions): Promise<Dispatcher.ResponseData> {
    const retries = options.retries ?? this.config.maxRetries;
    let delay = this.config.retryDelayMs;
    let lastError: unknown;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        await pause(delay, options.signal);
        delay = Math.min(delay * 2, this.config.maxRetryDelayMs);
      }
      for (const origin of this.config.urls) {
        try {
          const response = await this.sendTo(origin, path, options);
          if (response.statusCode >= 500 || response.statusCode === 429) {
            drain(response.body);
            lastError = new UpstreamError('unavailable', `${origin} answered ${response.statusCode}`, response.statusCode);
            continue;
          }
          this.originOf.set(response, origin);
          return response;
        } catch (error) {
          if (options.signal?.aborted) throw new UpstreamError('unavailable', `${origin}: no answer in time`);
          if (error instanceof UpstreamError) throw error;
          lastError = new UpstreamError('unavailable', `${origin}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
        }
      }
      this.log.warn({ upstream: this.name, path, attempt: attempt + 1, reason: (lastError as Error).message }, 'sync: upstream unavailable');
    }
    throw lastError instanceof UpstreamError ? lastError : new UpstreamError('unavailable', String(lastError));
  }

  private async sendTo(origin: string, path: string, options: SendOptions): Promise<Dispatcher.ResponseData> {
    const request = async () =>
      heard(
        this.agent.request({
          origin,
          path,
          method: options.method ?? 'GET',
          headers: { ...options.headers, ...(await this.authorizationFor(origin, options.scope, options.signal)) },
          ...(options.signal ? { signal: options.signal } : {}),
        }),
      );
    let response = await request();
    if (response.statusCode !== 401) return response;
    drain(response.body);
    const challenge = parseChallenge(headerOf(response.headers, 'www-authenticate'));
    if (!challenge) throw new UpstreamError('unauthorized', `${origin} wants credentials (401) but names no scheme Berth can answer`, 401);
    // The first challenge, a new realm, or a token that expired early: answer it, once.
    this.challenges.set(origin, challenge);
    this.tokens.delete(tokenKey(origin, challenge, options.scope));
    response = await request();
    if (response.statusCode === 401) {
      drain(response.body);
      throw new UpstreamError('unauthorized', `${origin} refused Berth's ${this.credentialsFor(origin) ? 'credentials' : 'anonymous request'} (401)`, 401);
    }
    return response;
  }

  private credentialsFor(origin: string): { username: string; password: string } | undefined {
    return this.config.credentials.get(new URL(origin).host.toLowerCase());
  }

  /**
   * The Authorization header for `scope` at `origin`, as its last challenge asked; none before any
   * challenge. A caller's `signal` ends its wait for a token (the request goes on for the others).
   */
  private async authorizationFor(origin: string, scope: string, signal?: AbortSignal): Promise<Record<string, string>> {
    const challenge = this.challenges.get(origin);
    if (!challenge) return {};
    const credentials = this.credentialsFor(origin);
    const basic = credentials ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` : undefined;
    if (challenge.scheme === 'basic') return basic ? { authorization: basic } : {};
    if (challenge.scheme !== 'bearer' || !challenge.params.realm) return {};
    const key = tokenKey(origin, challenge, scope);
    const cached = this.tokens.get(key);
    if (cached && cached.until > Date.now()) return { authorization: `Bearer ${cached.token}` };
    // Requests for one scope at once share one token request.
    let asking = this.tokenRequests.get(key);
    if (!asking) {
      asking = this.requestToken(origin, challenge, scope, basic, credentials !== undefined).then(
        (token) => {
          this.tokenRequests.delete(key);
          this.keepToken(key, token);
          return token.token;
        },
        (error: unknown) => {
          this.tokenRequests.delete(key);
          throw error;
        },
      );
      this.tokenRequests.set(key, asking);
    }
    return { authorization: `Bearer ${await untilAborted(asking, signal, `the token service of ${origin}`)}` };
  }

  /** Keeps a token until shortly before it expires; expired ones go first, and at most MAX_TOKENS are kept (names are the clients' choice). */
  private keepToken(key: string, token: { token: string; until: number }): void {
    if (this.tokens.size >= MAX_TOKENS) {
      const now = Date.now();
      for (const [other, kept] of this.tokens) if (kept.until <= now) this.tokens.delete(other);
      // Still full: the oldest entries (Map keeps insertion order) make room.
      for (const other of this.tokens.keys()) {
        if (this.tokens.size < MAX_TOKENS) break;
        this.tokens.delete(other);
      }
    }
    this.tokens.set(key, token);
  }

  private async requestToken(origin: string, challenge: Challenge, scope: string, basic: string | undefined, hasCredentials: boolean): Promise<{ token: string; until: number }> {
    const credentials = hasCredentials;
    const realm = new URL(challenge.params.realm!);
    if (challenge.params.service) realm.searchParams.set('service', challenge.params.service);
    realm.searchParams.set('scope', scope);
    // A token service over plain HTTP only for an upstream over plain HTTP.
    if (realm.protocol !== 'https:' && new URL(origin).protocol === 'https:') {
      throw new UpstreamError('invalid', `the upstream sends Berth to a token service over ${realm.protocol}// (${realm.origin}); refused, its credentials would travel in clear`);
    }
    // On the upstream's host, its TLS settings hold (tlsVerify, certDir, the client certificate); elsewhere, verified against the default CAs and certDir's.
    const sameHost = this.config.urls.some((url) => new URL(url).hostname === realm.hostname);
    const answer = await heard(
      (sameHost ? this.agent : this.tokenElsewhere).request({
        origin: realm.origin,
        path: realm.pathname + realm.search,
        method: 'GET',
        headers: basic ? { authorization: basic } : {},
        signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
      }),
    );
    if (answer.statusCode === 401 || answer.statusCode === 403) {
      drain(answer.body);
      throw new UpstreamError('unauthorized', `the token service ${realm.origin} refused Berth's ${credentials ? 'credentials' : 'anonymous request'} (${answer.statusCode})`, answer.statusCode);
    }
    if (answer.statusCode !== 200) {
      drain(answer.body);
      throw new UpstreamError('unavailable', `the token service ${realm.origin} answered ${answer.statusCode}`, answer.statusCode);
    }
    const body = JSON.parse((await readLimited(answer.body, 1024 * 1024, 'a token')).toString('utf8')) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) throw new UpstreamError('invalid', `the token service ${realm.origin} answered without a token`);
    // Renewed 10 s early, so a token does not expire between the check and the request.
    const seconds = Math.max(1, (body.expires_in ?? DEFAULT_TOKEN_SECONDS) - 10);
    return { token, until: Date.now() + seconds * 1000 };
  }

  private async refuseFailure(response: Dispatcher.ResponseData, what: string): Promise<void> {
    const status = response.statusCode;
    if (status >= 200 && status < 300) return;
    drain(response.body);
    if (status === 404) throw new UpstreamError('not-found', `${what}: not found upstream (${this.name})`, status);
    if (status === 401) throw new UpstreamError('unauthorized', `${what}: ${this.name} wants credentials (401)`, status);
    if (status === 403) throw new UpstreamError('denied', `${what}: ${this.name} denied access (403)`, status);
    throw new UpstreamError('unavailable', `${what}: ${this.name} answered ${status}`, status);
  }
}

/** A manifest's own mediaType field, when the upstream's Content-Type said nothing useful. */
function mediaTypeInside(bytes: Buffer): string {
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof parsed.mediaType === 'string') return parsed.mediaType;
    return Array.isArray(parsed.manifests) ? OCI_INDEX : OCI_MANIFEST;
  } catch {
    throw new UpstreamError('invalid', 'the upstream sent a manifest that is not JSON');
  }
}

/** The pages of a list read so far: a page asked twice (an upstream that ignores `last`) or too many end the list with an error. */
class Pages {
  private readonly seen = new Set<string>();

  constructor(
    private readonly what: string,
    readonly first: string,
  ) {
    this.seen.add(first);
  }

  visit(page: string | undefined): void {
    if (page === undefined) return;
    if (this.seen.has(page)) throw new UpstreamError('invalid', `${this.what}: the upstream's next page is one it already sent (${page})`);
    if (this.seen.size >= MAX_PAGES) throw new UpstreamError('invalid', `${this.what}: more than ${MAX_PAGES} pages`);
    this.seen.add(page);
  }
}
