/**
 * The bearer tokens Berth accepts, behind auth's `BearerTokens`: workload ID tokens of the issuers
 * in http.auth.bearer.oidc (verifier.ts). One object for the life of the server; `apply` swaps
 * in a reloaded config's issuers, keeping the discovered keys of those that did not change.
 */
import type { BearerTokens, BearerVerdict } from '../auth/bearer-tokens.js';
import type { BerthConfig } from '../config/config.js';
import { WorkloadVerifier } from './verifier.js';

export class WorkloadTokens implements BearerTokens {
  private verifier: WorkloadVerifier | undefined;

  constructor(config: BerthConfig) {
    this.apply(config);
  }

  apply(config: BerthConfig): void {
    const issuers = config.http.auth.bearer?.oidc ?? [];
    this.verifier = issuers.length > 0 ? new WorkloadVerifier(issuers, this.verifier) : undefined;
  }

  get acceptsIdTokens(): boolean {
    return this.verifier !== undefined;
  }

  /** The trusted issuers, for the admin's account page. */
  get issuerNames(): string[] {
    return this.verifier?.issuerNames ?? [];
  }

  async verify(token: string): Promise<BearerVerdict> {
    if (!this.verifier) return { ok: false, reason: 'workload token: no issuer is configured' };
    const result = await this.verifier.verify(token);
    return result.ok ? { kind: 'workload', ...result } : result;
  }
}
