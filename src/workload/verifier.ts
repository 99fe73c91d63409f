/**
 * Verifies workload ID tokens (`http.auth.bearer.oidc[]`): a JWT from a configured issuer, signed
 * with RS256, ES256 or EdDSA by a key of the issuer's JWKS, for one of the configured audiences, in
 * its validity window (a minute of clock skew), whose claims pass the issuer's `claimMapping`.
 * Each refusal names the check that failed, for the 401 and the audit line; never the token.
 * See RFC 7519 §7.2 (validating a JWT) and OpenID Connect Core §3.1.3.7 (ID token validation).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { WorkloadIssuerConfig } from '../config/config.js';
import { ClaimMapping } from './claim-mapping.js';
import { IssuerKeys } from './issuer-keys.js';

/** Asymmetric only: `none` and HMAC (an HS256 token "signed" with the public key) are refused. */
export const WORKLOAD_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'];
const CLOCK_SKEW_SECONDS = 60;
/**
 * A verified token is remembered this long (never past its `exp`), so a client sending the same ID
 * token on every request of a push pays one signature check and one CEL run, not one per request.
 * Keyed by an HMAC of the whole token under a per-verifier key; a reload (new issuers, mappings or
 * validations) makes a new verifier and so an empty cache.
 */
const VERIFIED_TTL_MS = 60_000;
const MAX_VERIFIED = 10_000;

/** A verified token's mapped identity (and when it expires, ms since epoch), or the check that failed. */
export type WorkloadResult = { ok: true; username: string; groups: string[]; issuer: string; subject: string; expiresAt: number } | { ok: false; reason: string };

interface Issuer {
  config: WorkloadIssuerConfig;
  keys: IssuerKeys;
  mapping: ClaimMapping;
}

export class WorkloadVerifier {
  private readonly issuers = new Map<string, Issuer>();
  private readonly cacheKey = randomBytes(32);
  private readonly verified = new Map<string, { result: Extract<WorkloadResult, { ok: true }>; expires: number }>();

  constructor(configs: readonly WorkloadIssuerConfig[], previous?: WorkloadVerifier) {
    for (const config of configs) {
      // A reload keeps the discovered keys of an issuer whose config did not change.
      const kept = previous?.issuers.get(config.issuer);
      if (kept && JSON.stringify(kept.config) === JSON.stringify(config)) this.issuers.set(config.issuer, kept);
      else this.issuers.set(config.issuer, { config, keys: new IssuerKeys(config), mapping: new ClaimMapping(config.claimMapping) });
    }
  }

  get configured(): boolean {
    return this.issuers.size > 0;
  }

  /** The trusted issuers, for the admin's account page. */
  get issuerNames(): string[] {
    return [...this.issuers.keys()];
  }

  async verify(token: string): Promise<WorkloadResult> {
    const id = createHmac('sha256', this.cacheKey).update(token).digest('base64');
    const cached = this.verified.get(id);
    if (cached && cached.expires > Date.now()) return cached.result;
    if (cached) this.verified.delete(id);
    const result = await this.check(token);
    if (result.ok) {
      if (this.verified.size >= MAX_VERIFIED) this.verified.clear();
      this.verified.set(id, { result, expires: Math.min(Date.now() + VERIFIED_TTL_MS, result.expiresAt) });
    }
    return result;
  }

  private async check(token: string): Promise<WorkloadResult> {
    let alg: unknown;
    let iss: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
      iss = decodeJwt(token).iss;
    } catch {
      return { ok: false, reason: 'workload token: not a JWT' };
    }
    if (alg === 'none') return { ok: false, reason: 'workload token: unsigned (alg none)' };
    if (typeof alg !== 'string' || !WORKLOAD_ALGORITHMS.includes(alg)) return { ok: false, reason: `workload token: algorithm ${String(alg)} is not accepted` };
    const issuer = typeof iss === 'string' ? this.issuers.get(iss.replace(/\/+$/, '')) : undefined;
    if (!issuer) return { ok: false, reason: 'workload token: the issuer is not configured' };
    let getKey;
    try {
      getKey = await issuer.keys.resolver();
    } catch (error) {
      return { ok: false, reason: `workload token: ${(error as Error).message}` };
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        algorithms: WORKLOAD_ALGORITHMS,
        issuer: iss as string,
        audience: issuer.config.audiences,
        clockTolerance: CLOCK_SKEW_SECONDS,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      return { ok: false, reason: `workload token: ${describe(error)}` };
    }
    const now = Math.floor(Date.now() / 1000);
    if (typeof payload.iat === 'number' && payload.iat > now + CLOCK_SKEW_SECONDS) return { ok: false, reason: 'workload token: issued in the future (iat)' };
    const mapped = issuer.mapping.map(payload);
    if (!mapped.ok) return { ok: false, reason: `workload token: ${mapped.reason}` };
    return { ok: true, username: mapped.username, groups: mapped.groups, issuer: issuer.config.issuer, subject: String(payload.sub), expiresAt: Number(payload.exp) * 1000 };
  }
}

/** Which check failed, in words fit for a log line (jose's messages name claims, not values). */
function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'expired (exp)';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'the audience is not accepted (aud)';
    if (error.claim === 'nbf') return 'not yet valid (nbf)';
    if (error.claim === 'iss') return 'the issuer does not match (iss)';
    return `claim ${error.claim} failed: ${error.reason}`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (error instanceof errors.JWKSNoMatchingKey) return "no key of the issuer's JWKS matches (kid)";
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the algorithm is not accepted';
  if (error instanceof errors.JOSEError) return `${error.code}: ${error.message}`;
  return `the issuer's keys could not be read: ${(error as Error).message}`;
}
