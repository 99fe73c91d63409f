/**
 * The signing keys of one workload token issuer: OIDC discovery (`/.well-known/openid-configuration`,
 * its `issuer` compared with the configured one unless `skipIssuerVerification`), then the JWKS at
 * its `jwks_uri` through jose's remote key set, which caches the keys, refetches when a token names
 * an unknown `kid` (key rotation) and waits `cooldownDuration` between fetches (so forged kids cannot
 * make Berth hammer the issuer). A `certificateAuthority` replaces the system roots for both.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from 'jose';
import type { WorkloadIssuerConfig } from '../config/config.js';

/** Discovery documents and key sets are small; anything larger is not one. */
const MAX_BODY = 512 * 1024;
const TIMEOUT_MS = 5_000;
/** At most one discovery attempt per issuer in this time after a failure. */
const DISCOVERY_RETRY_MS = 30_000;
/** Keys are refetched at most this often on an unknown kid. */
const JWKS_COOLDOWN_MS = 5_000;
/** And at least this often anyway (rotation without a new kid is rare but allowed). */
const JWKS_MAX_AGE_MS = 10 * 60_000;

/** GET with the issuer's CA: a fetch-like Response, as jose's customFetch wants. */
function get(url: string, ca: string | undefined): Promise<Response> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(target, { method: 'GET', headers: { accept: 'application/json' }, timeout: TIMEOUT_MS, ...(ca !== undefined ? { ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY) req.destroy(new Error(`${url}: the answer is larger than ${MAX_BODY} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 500, headers: { 'content-type': String(res.headers['content-type'] ?? '') } })));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export class IssuerKeys {
  private keys: JWTVerifyGetKey | undefined;
  private discovering: Promise<JWTVerifyGetKey> | undefined;
  private failedAt = 0;
  private failure = '';

  constructor(private readonly config: WorkloadIssuerConfig) {}

  /** The key resolver for jwtVerify; throws (with a reason fit for the audit line) when discovery fails. */
  async resolver(): Promise<JWTVerifyGetKey> {
    if (this.keys) return this.keys;
    if (Date.now() - this.failedAt < DISCOVERY_RETRY_MS) throw new Error(this.failure);
    this.discovering ??= this.discover().finally(() => (this.discovering = undefined));
    return this.discovering;
  }

  private async discover(): Promise<JWTVerifyGetKey> {
    const { issuer, certificateAuthority: ca, skipIssuerVerification } = this.config;
    try {
      const response = await get(`${issuer}/.well-known/openid-configuration`, ca);
      if (response.status !== 200) throw new Error(`discovery answered ${response.status}`);
      const document = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
      if (!skipIssuerVerification && typeof document.issuer === 'string' && document.issuer.replace(/\/+$/, '') !== issuer) {
        throw new Error(`discovery names issuer "${document.issuer}"`);
      }
      if (!skipIssuerVerification && typeof document.issuer !== 'string') throw new Error('discovery names no issuer');
      if (typeof document.jwks_uri !== 'string') throw new Error('discovery names no jwks_uri');
      const jwksUri = new URL(document.jwks_uri);
      this.keys = createRemoteJWKSet(jwksUri, {
        cooldownDuration: JWKS_COOLDOWN_MS,
        cacheMaxAge: JWKS_MAX_AGE_MS,
        timeoutDuration: TIMEOUT_MS,
        [customFetch]: (url: string) => get(url, ca),
      });
      return this.keys;
    } catch (error) {
      this.failedAt = Date.now();
      this.failure = `the issuer's discovery failed: ${(error as Error).message}`;
      throw new Error(this.failure, { cause: error });
    }
  }
}
