/**
 * The fetch openid-client uses for one provider (its `customFetch`). It does two things plain
 * fetch cannot:
 * - it keeps the token endpoint's answer of a code exchange, and can hand that answer back
 *   instead of calling the network. An authorization code is single-use, so when the ID token in
 *   the answer fails validation because the provider changed its signing key, Berth discovers the
 *   provider again and runs the same grant against the fresh metadata with the kept answer: the
 *   tokens are validated again (issuer, audience, nonce, alg, signature against the new JWKS), not
 *   trusted, and the first sign-in after a key rotation succeeds.
 * - it applies the provider's endpoint policy (oidc-endpoints.ts) to every request, so the
 *   `allowInsecureRequests` that http in-cluster endpoints need never reaches another host.
 * Exchanges are told apart with AsyncLocalStorage: concurrent sign-ins share one Configuration.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { CustomFetch } from 'openid-client';
import type { EndpointPolicy } from './oidc-endpoints.js';

/** A token endpoint answer, as received. */
export interface KeptResponse {
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  body: string;
}

/** One code exchange: what it kept, or what it replays. */
export interface Exchange {
  kept?: KeptResponse;
  replay?: KeptResponse;
}

const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

function responseOf(kept: KeptResponse): Response {
  const { status, statusText, headers, body } = kept;
  return new Response(NULL_BODY_STATUSES.has(status) ? null : body, { status, statusText, headers });
}

export class ProviderTransport {
  readonly #exchanges = new AsyncLocalStorage<Exchange>();

  constructor(private readonly policy: EndpointPolicy) {}

  /** Runs `grant` as one exchange; its token endpoint answer lands in `exchange.kept`. */
  run<T>(exchange: Exchange, grant: () => Promise<T>): Promise<T> {
    return this.#exchanges.run(exchange, grant);
  }

  readonly fetch: CustomFetch = async (url, options) => {
    const exchange = this.#exchanges.getStore();
    // In a grant, the only POST is the token request.
    const tokenRequest = exchange !== undefined && options.method === 'POST';
    if (tokenRequest && exchange.replay) return responseOf(exchange.replay);
    const refusal = this.policy.refusal(new URL(url));
    if (refusal !== undefined) throw new Error(`refused to call the identity provider: ${refusal}`);
    const response = await fetch(url, options);
    if (!tokenRequest) return response;
    const kept: KeptResponse = { status: response.status, statusText: response.statusText, headers: [...response.headers], body: await response.text() };
    exchange.kept = kept;
    return responseOf(kept);
  };
}
