/**
 * Discovering one OpenID Provider the way Berth uses it: openid-client's discovery through the
 * provider's transport (oidc-transport.ts), Berth's endpoint policy applied to what the document
 * names (oidc-endpoints.ts), and ID-token signatures always verified against the provider's JWKS.
 * `serve` runs it at start and again when the provider's keys change; `berth verify` runs it once
 * with a short timeout to tell the operator what it found.
 */
import * as client from 'openid-client';
import type { OidcProviderConfig } from '../config/config.js';
import { checkServerEndpoints, endpointPolicy, type HttpEndpoint } from './oidc-endpoints.js';
import { describeFailure } from './oidc-failures.js';
import { ProviderTransport } from './oidc-transport.js';

/** Discovery worked, but the document names endpoints Berth will not call. */
export class EndpointsRefused extends Error {}

export interface Discovered {
  configuration: client.Configuration;
  /** Server-side endpoints over plain http under an https issuer (allowed by allowHttpEndpoints). */
  httpEndpoints: HttpEndpoint[];
}

export function transportFor(config: OidcProviderConfig): ProviderTransport {
  return new ProviderTransport(endpointPolicy(config.issuer, config.allowHttpEndpoints));
}

export async function discoverProvider(config: OidcProviderConfig, transport: ProviderTransport, timeoutSeconds: number): Promise<Discovered> {
  const { issuer, clientId, clientSecret } = config;
  const loopbackIssuer = new URL(issuer).protocol === 'http:';
  const configuration = await client.discovery(new URL(issuer), clientId, clientSecret, clientSecret === undefined ? client.None() : client.ClientSecretPost(clientSecret), {
    timeout: timeoutSeconds,
    [client.customFetch]: transport.fetch,
    ...(loopbackIssuer ? { execute: [client.allowInsecureRequests] } : {}),
  });
  const { http, refusals } = checkServerEndpoints(configuration.serverMetadata() as Record<string, unknown>, issuer, config.allowHttpEndpoints);
  if (refusals.length > 0) throw new EndpointsRefused(refusals.join('; '));
  // The transport still refuses any other http host: this only lifts openid-client's blanket rule.
  if (loopbackIssuer || http.length > 0) client.allowInsecureRequests(configuration);
  // openid-client skips the ID token's signature when it came from the token endpoint over TLS
  // (OpenID Connect Core 3.1.3.7). Berth checks it anyway: the endpoint may be in-cluster http, and
  // a key the provider no longer publishes must fail, which is also how a key change is noticed.
  client.enableNonRepudiationChecks(configuration);
  return { configuration, httpEndpoints: http };
}

/** `berth verify`'s findings for one provider. */
export interface ProviderReport {
  problems: string[];
  warnings: string[];
  notes: string[];
}

/** Discovers once: refused endpoints are problems; a provider that cannot be reached is a warning. */
export async function checkProvider(config: OidcProviderConfig, where: string, timeoutSeconds = 5): Promise<ProviderReport> {
  const report: ProviderReport = { problems: [], warnings: [], notes: [] };
  try {
    const { configuration, httpEndpoints } = await discoverProvider(config, transportFor(config), timeoutSeconds);
    const algorithms = configuration.serverMetadata().id_token_signing_alg_values_supported ?? ['RS256'];
    report.notes.push(`${where}: discovered ${config.issuer} (ID tokens signed with ${algorithms.join(', ')})`);
    for (const { field, url } of httpEndpoints) {
      report.notes.push(`${where}: ${field} ${url} is plain http, allowed by allowHttpEndpoints (a cluster-internal host)`);
    }
  } catch (error) {
    if (error instanceof EndpointsRefused) report.problems.push(`${where}: ${error.message}`);
    else report.warnings.push(`${where}: the identity provider at ${config.issuer} cannot be reached now (${describeFailure(error)}); its endpoints were not checked`);
  }
  return report;
}
