/**
 * Which provider endpoints Berth's server may call over plain http. Berth sends the authorization
 * code, the PKCE verifier and the client secret to the token endpoint and reads keys and claims
 * back, so these calls need https, except in two cases: a loopback issuer over http (development,
 * tests), and an operator's opt-in, `"allowHttpEndpoints": true`, for the usual Kubernetes setup
 * where Pocket ID's INTERNAL_APP_URL is an http Service URL: discovery then names http token,
 * UserInfo and JWKS endpoints under an https issuer. The opt-in covers cluster-internal hosts only
 * (single-label names, `*.svc`, `*.cluster.local`, loopback and private addresses); http to a
 * public host is refused whatever the config says, naming the endpoint.
 */
import { BlockList, isIP } from 'node:net';

/** The discovery fields of endpoints Berth's server calls itself (the browser visits the others). */
export const SERVER_ENDPOINTS = ['token_endpoint', 'userinfo_endpoint', 'jwks_uri'] as const;

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Loopback, RFC 1918 and IPv6 unique-local addresses. Link-local (cloud metadata) is not among them. */
const PRIVATE = new BlockList();
PRIVATE.addSubnet('127.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4');
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4');
PRIVATE.addAddress('::1', 'ipv6');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');

/** A URL's hostname without IPv6 brackets and a trailing dot, lower-cased. */
function bareHost(hostname: string): string {
  return hostname
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '')
    .toLowerCase();
}

function addressIn(list: BlockList, host: string): boolean {
  const family = isIP(host);
  return family !== 0 && list.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

export function isLoopbackHost(hostname: string): boolean {
  const host = bareHost(hostname);
  return host === 'localhost' || addressIn(LOOPBACK, host);
}

/**
 * A host that names something inside the cluster (or this machine): a single-label name (resolved
 * through the pod's search domains), a Service name under `.svc` or `.cluster.local`, a loopback
 * or private address.
 */
export function isClusterInternalHost(hostname: string): boolean {
  const host = bareHost(hostname);
  if (isIP(host) !== 0) return addressIn(PRIVATE, host);
  return !host.includes('.') || host.endsWith('.svc') || host.endsWith('.cluster.local');
}

/** One server-side endpoint discovery names over plain http. */
export interface HttpEndpoint {
  field: string;
  url: string;
}

export interface EndpointPolicy {
  /** Why Berth must not call `url` (named `field` in the answer), or undefined when it may. */
  refusal(url: URL, field?: string): string | undefined;
}

/**
 * The rule for one provider: https always; http to loopback under a loopback http issuer; http to
 * cluster-internal hosts with `allowHttpEndpoints`. `field` names the endpoint in the refusal.
 */
export function endpointPolicy(issuer: string, allowHttpEndpoints: boolean): EndpointPolicy {
  const loopbackIssuer = new URL(issuer).protocol === 'http:';
  return {
    refusal(url, field = 'endpoint') {
      if (url.protocol === 'https:') return undefined;
      if (url.protocol !== 'http:') return `${field} ${url.href} is neither https nor http`;
      if (loopbackIssuer && isLoopbackHost(url.hostname)) return undefined;
      if (!isClusterInternalHost(url.hostname)) {
        return `${field} ${url.href} is plain http on a host that is not cluster-internal; Berth calls it only over https (allowHttpEndpoints covers single-label names, *.svc, *.cluster.local, loopback and private addresses)`;
      }
      if (allowHttpEndpoints) return undefined;
      return `${field} ${url.href} is plain http; if that is the provider's cluster-internal address (Pocket ID's INTERNAL_APP_URL), set "allowHttpEndpoints": true on this provider`;
    },
  };
}

/**
 * Checks the server-side endpoints of a discovery document: the refusals (one per endpoint, naming
 * it), and the http endpoints allowHttpEndpoints lets through under an https issuer (under a
 * loopback http issuer everything is http, and worth no mention).
 */
export function checkServerEndpoints(metadata: Record<string, unknown>, issuer: string, allowHttpEndpoints: boolean): { http: HttpEndpoint[]; refusals: string[] } {
  const policy = endpointPolicy(issuer, allowHttpEndpoints);
  const loopbackIssuer = new URL(issuer).protocol === 'http:';
  const http: HttpEndpoint[] = [];
  const refusals: string[] = [];
  for (const field of SERVER_ENDPOINTS) {
    const value = metadata[field];
    if (typeof value !== 'string') continue;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      refusals.push(`${field} "${value}" is not a URL`);
      continue;
    }
    const refusal = policy.refusal(url, field);
    if (refusal !== undefined) refusals.push(refusal);
    else if (url.protocol === 'http:' && !loopbackIssuer) http.push({ field, url: url.href });
  }
  return { http, refusals };
}
