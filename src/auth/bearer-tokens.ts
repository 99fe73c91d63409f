/**
 * What auth asks of the bearer tokens it does not verify itself: registry tokens (issued by Berth's
 * token endpoint) and workload ID tokens (http.auth.bearer.oidc). Both are verified in
 * src/workload/, which sits beside auth (it may build on auth, not the other way round); app.ts
 * hands the verifier in. A verdict names who the token speaks for, or the check that failed.
 */
import type { Action, Identity } from '../access/policy.js';

/** What a registry token allows: repository name → Berth actions (Docker scopes, mapped). */
export type Grants = ReadonlyMap<string, ReadonlySet<Action>>;

export type BearerVerdict =
  /** A workload ID token: the mapped name and groups, vouched for by `issuer` as `subject`. */
  | { ok: true; kind: 'workload'; username: string; groups: readonly string[]; issuer: string; subject: string }
  /** A registry token: the identity it was issued to (anonymous when no name), limited to `grants`. */
  | { ok: true; kind: 'registry'; identity: Identity; grants: Grants }
  | { ok: false; reason: string };

export interface BearerTokens {
  /** Verifies `token` (a compact JWS) without a lookup of the token itself. */
  verify(token: string): Promise<BearerVerdict>;
  /** Whether workload ID tokens are accepted (http.auth.bearer.oidc lists an issuer). */
  readonly acceptsIdTokens: boolean;
}

/** Whether `token` looks like a compact JWS (three base64url parts), as ID and registry tokens are. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}
