/**
 * The bearer tokens Berth accepts, behind auth's `BearerTokens`: its own registry tokens
 * (registry-tokens.ts, from the token endpoint) and workload ID tokens of the issuers in
 * http.auth.bearer.oidc (verifier.ts). A token goes to one verifier by its `iss` claim, and each
 * pins its own algorithms: a token claiming Berth as issuer must carry Berth's HMAC, one claiming
 * an OpenID issuer must carry that issuer's signature (HS256 is refused there).
 * One object for the life of the server; `apply` swaps in a reloaded config's issuers, keeping the
 * discovered keys of those that did not change.
 */
import type { Identity } from '../access/policy.js';
import type { BearerTokens, BearerVerdict } from '../auth/bearer-tokens.js';
import type { BerthConfig } from '../config/config.js';
import type { Coordination } from '../coordination/coordination.js';
import { isRegistryToken, RegistryTokens, type IssuedToken } from './registry-tokens.js';
import type { RequestedScope } from './scopes.js';
import { WorkloadVerifier } from './verifier.js';

export class WorkloadTokens implements BearerTokens {
  private verifier: WorkloadVerifier | undefined;
  private service: string | undefined;
  private readonly registry: RegistryTokens;

  constructor(config: BerthConfig, coordination: Coordination) {
    this.registry = new RegistryTokens(coordination);
    this.apply(config);
  }

  apply(config: BerthConfig): void {
    const issuers = config.http.auth.bearer?.oidc ?? [];
    this.verifier = issuers.length > 0 ? new WorkloadVerifier(issuers, this.verifier) : undefined;
    this.service = config.http.auth.bearer?.service;
  }

  get acceptsIdTokens(): boolean {
    return this.verifier !== undefined;
  }

  /** The trusted issuers, for the admin's account page. */
  get issuerNames(): string[] {
    return this.verifier?.issuerNames ?? [];
  }

  async verify(token: string): Promise<BearerVerdict> {
    if (isRegistryToken(token)) {
      const verdict = await this.registry.verify(token, this.service);
      return verdict.ok ? { kind: 'registry', ...verdict } : verdict;
    }
    if (!this.verifier) return { ok: false, reason: 'workload token: no issuer is configured' };
    const result = await this.verifier.verify(token);
    return result.ok ? { kind: 'workload', ...result } : result;
  }

  /** A registry token for `identity` with `access` (already what the policy allows), for `service`. */
  issue(identity: Identity, access: readonly RequestedScope[], service: string): Promise<IssuedToken> {
    return this.registry.issue(identity, access, service);
  }
}
