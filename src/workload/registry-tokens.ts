/**
 * Registry tokens: what the token endpoint (/zot/auth/token) hands a client after checking its
 * credentials, and what /v2 then accepts as `Authorization: Bearer`. A JWT (RFC 7519) in Docker's
 * shape (`access: [{type, name, actions}]`, distribution's token spec), HS256 with a 256-bit
 * secret only Berth holds: it is both issuer and verifier, so a shared secret costs a hash where a
 * signature check would cost an RSA/ECDSA verify on every request, and no one else needs to check
 * these tokens. Verified without a lookup: the token carries the identity (name, groups, how it
 * signed in) and its grants, and lives five minutes.
 *
 * The secret is a record of the coordination (`registry-token-keys`): a file under
 * `<root>/_berth/` (mode 0600) for a single process, Redis when replicas share one, so a token made
 * by one replica is accepted by all. The first to need it makes it, under a lock.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt, errors, jwtVerify, SignJWT } from 'jose';
import { ANONYMOUS, type Identity } from '../access/policy.js';
import type { Grants } from '../auth/bearer-tokens.js';
import type { Coordination } from '../coordination/coordination.js';
import { grantsOf, type RequestedScope } from './scopes.js';

/** The `iss` of Berth's own tokens; no OpenID issuer is named so (theirs are URLs). */
export const REGISTRY_TOKEN_ISSUER = 'berth-registry';
/** How long a registry token lives: a push of large layers re-asks (clients do on a 401). */
export const REGISTRY_TOKEN_SECONDS = 300;
const ALGORITHM = 'HS256';
/** The shared secret is re-read this often, so a replica follows one Redis lost and remade. */
const KEY_REFRESH_MS = 60_000;
const CLOCK_SKEW_SECONDS = 30;
const METHODS = new Set(['htpasswd', 'session', 'apikey', 'workload']);
/**
 * A verified token is remembered until its `exp` (under the key that signed it), so a client that
 * sends the same token on every request of a push pays one signature check, not one per request:
 * the JWT library's check cost 2.7 times an API key's whole request. Keyed by an HMAC of the
 * service and the token under a per-process key; what the token grants is still held against the
 * current policy at each request (access.ts).
 */
const MAX_VERIFIED = 10_000;

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: Date;
}

export type RegistryTokenVerdict = { ok: true; identity: Identity; grants: Grants } | { ok: false; reason: string };

/** Whether `token` claims to be one of Berth's registry tokens (decides which verifier gets it). */
export function isRegistryToken(token: string): boolean {
  try {
    return decodeJwt(token).iss === REGISTRY_TOKEN_ISSUER;
  } catch {
    return false;
  }
}

export class RegistryTokens {
  private key: Uint8Array | undefined;
  private loadedAt = 0;
  private loading: Promise<Uint8Array> | undefined;
  private readonly cacheKey = randomBytes(32);
  private readonly verified = new Map<string, { verdict: RegistryTokenVerdict; key: Uint8Array; expires: number }>();

  constructor(private readonly coordination: Coordination) {}

  /** The secret: cached, re-read after KEY_REFRESH_MS; throws when the coordination does not answer. */
  private async secret(): Promise<Uint8Array> {
    if (this.key && Date.now() - this.loadedAt < KEY_REFRESH_MS) return this.key;
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    try {
      return await this.loading;
    } catch (error) {
      // Redis away: keep using the key we had rather than refuse every token.
      if (this.key) return this.key;
      throw error;
    }
  }

  private async load(): Promise<Uint8Array> {
    const records = this.coordination.records<string>('registry-token-keys');
    const secret =
      (await records.get('secret')) ??
      (await this.coordination.locks.run('registry-token-keys', async () => {
        const existing = await records.get('secret');
        if (existing !== undefined) return existing;
        const made = randomBytes(32).toString('base64url');
        await records.set('secret', made);
        return made;
      }));
    this.key = Buffer.from(secret, 'base64url');
    this.loadedAt = Date.now();
    return this.key;
  }

  /** A token for `identity`, granting `access` (already limited to what the policy allows). */
  async issue(identity: Identity, access: readonly RequestedScope[], service: string): Promise<IssuedToken> {
    const key = await this.secret();
    const now = Math.floor(Date.now() / 1000);
    const berth = {
      groups: identity.groups,
      ...(identity.method ? { method: identity.method } : {}),
      ...(identity.provider ? { provider: identity.provider } : {}),
      ...(identity.subject ? { subject: identity.subject } : {}),
    };
    const token = await new SignJWT({ access: access.map(({ name, actions }) => ({ type: 'repository', name, actions })), berth })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setIssuer(REGISTRY_TOKEN_ISSUER)
      .setAudience(service)
      .setSubject(identity.username ?? '')
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + REGISTRY_TOKEN_SECONDS)
      .setJti(randomUUID())
      .sign(key);
    return { token, expiresIn: REGISTRY_TOKEN_SECONDS, issuedAt: new Date(now * 1000) };
  }

  /** The identity and grants a token carries, or the check that failed (never the token). */
  async verify(token: string, service: string | undefined): Promise<RegistryTokenVerdict> {
    let key: Uint8Array;
    try {
      key = await this.secret();
    } catch (error) {
      return { ok: false, reason: `registry token: the signing key cannot be read: ${(error as Error).message}` };
    }
    const id = createHmac('sha256', this.cacheKey)
      .update(`${service ?? ''}\n${token}`)
      .digest('base64');
    const cached = this.verified.get(id);
    if (cached && cached.key === key && cached.expires > Date.now()) return cached.verdict;
    if (cached) this.verified.delete(id);
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: [ALGORITHM],
        issuer: REGISTRY_TOKEN_ISSUER,
        ...(service !== undefined ? { audience: service } : {}),
        clockTolerance: CLOCK_SKEW_SECONDS,
        requiredClaims: ['exp', 'iat', 'sub'],
      }));
    } catch (error) {
      return { ok: false, reason: `registry token: ${describe(error)}` };
    }
    const berth = (typeof payload.berth === 'object' && payload.berth !== null ? payload.berth : {}) as Record<string, unknown>;
    const groups = Array.isArray(berth.groups) ? berth.groups.filter((group): group is string => typeof group === 'string') : [];
    const username = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
    const method = typeof berth.method === 'string' && METHODS.has(berth.method) ? (berth.method as Identity['method']) : undefined;
    const identity: Identity =
      username === undefined
        ? ANONYMOUS
        : Object.freeze({
            username,
            groups: Object.freeze(groups),
            ...(method ? { method } : {}),
            ...(typeof berth.provider === 'string' ? { provider: berth.provider } : {}),
            ...(typeof berth.subject === 'string' ? { subject: berth.subject } : {}),
          });
    const verdict: RegistryTokenVerdict = Object.freeze({ ok: true, identity, grants: grantsOf(payload.access) });
    if (this.verified.size >= MAX_VERIFIED) this.verified.clear();
    this.verified.set(id, { verdict, key, expires: (payload.exp as number) * 1000 });
    return verdict;
  }
}

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'expired (exp)';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the algorithm is not accepted';
  if (error instanceof errors.JWTClaimValidationFailed) return `claim ${error.claim} failed: ${error.reason}`;
  if (error instanceof errors.JOSEError) return error.code;
  return (error as Error).message;
}
