/**
 * Which provider endpoints Berth calls over plain http (src/auth/oidc-endpoints.ts): only
 * cluster-internal hosts with allowHttpEndpoints, loopback under a loopback issuer, never a public
 * host, and every refusal names its endpoint.
 */
import { describe, expect, it } from 'vitest';
import { checkServerEndpoints, endpointPolicy, isClusterInternalHost } from '../../../src/auth/oidc-endpoints.js';

describe('isClusterInternalHost', () => {
  it.each([
    ['pocket-id', true],
    ['localhost', true],
    ['pocket-id.auth.svc', true],
    ['pocket-id.auth.svc.cluster.local', true],
    ['pocket-id.auth.svc.cluster.local.', true],
    ['node-1.cluster.local', true],
    ['127.0.0.1', true],
    ['10.43.0.12', true],
    ['172.16.5.4', true],
    ['172.31.255.255', true],
    ['192.168.1.20', true],
    ['[::1]', true],
    ['[fd00::12]', true],
    ['id.example.com', false],
    ['svc.example.com', false],
    ['example.svc.evil.com', false],
    ['cluster.local.evil.com', false],
    ['172.32.0.1', false],
    ['8.8.8.8', false],
    ['169.254.169.254', false],
    ['[2001:db8::1]', false],
  ])('%s → %s', (host, internal) => {
    expect(isClusterInternalHost(host)).toBe(internal);
  });
});

describe('endpointPolicy', () => {
  const https = 'https://id.example.org';
  it('allows https anywhere and http to cluster-internal hosts only with the opt-in', () => {
    const off = endpointPolicy(https, false);
    const on = endpointPolicy(https, true);
    expect(off.refusal(new URL('https://id.example.org/api/oidc/token'))).toBeUndefined();
    expect(off.refusal(new URL('http://pocket-id.auth.svc:1411/api/oidc/token'), 'token_endpoint')).toMatch(
      /^token_endpoint http:\/\/pocket-id\.auth\.svc:1411\/api\/oidc\/token is plain http; .*set "allowHttpEndpoints": true/,
    );
    expect(on.refusal(new URL('http://pocket-id.auth.svc:1411/api/oidc/token'))).toBeUndefined();
    expect(on.refusal(new URL('http://id.example.org/api/oidc/token'), 'token_endpoint')).toMatch(
      /^token_endpoint http:\/\/id\.example\.org\/api\/oidc\/token is plain http on a host that is not cluster-internal/,
    );
    expect(on.refusal(new URL('ftp://pocket-id/x'))).toMatch(/neither https nor http/);
  });

  it('under a loopback http issuer, allows http to loopback only (development), other hosts by the same rules', () => {
    const dev = endpointPolicy('http://127.0.0.1:9000', false);
    expect(dev.refusal(new URL('http://127.0.0.1:9000/token'))).toBeUndefined();
    expect(dev.refusal(new URL('http://localhost:9001/token'))).toBeUndefined();
    expect(dev.refusal(new URL('http://pocket-id:1411/token'))).toMatch(/allowHttpEndpoints/);
    expect(dev.refusal(new URL('http://id.example.org/token'))).toMatch(/not cluster-internal/);
  });
});

describe('checkServerEndpoints', () => {
  const metadata = {
    issuer: 'https://id.example.org',
    authorization_endpoint: 'https://id.example.org/authorize',
    token_endpoint: 'http://pocket-id:1411/api/oidc/token',
    userinfo_endpoint: 'http://pocket-id:1411/api/oidc/userinfo',
    jwks_uri: 'http://id.example.org/.well-known/jwks.json',
    end_session_endpoint: 'http://whatever.example/api/oidc/end-session',
  };

  it('names each refused server-side endpoint and the allowed http ones; browser endpoints are not its business', () => {
    expect(checkServerEndpoints(metadata, 'https://id.example.org', true)).toEqual({
      http: [
        { field: 'token_endpoint', url: 'http://pocket-id:1411/api/oidc/token' },
        { field: 'userinfo_endpoint', url: 'http://pocket-id:1411/api/oidc/userinfo' },
      ],
      refusals: [expect.stringMatching(/^jwks_uri http:\/\/id\.example\.org\/\.well-known\/jwks\.json is plain http on a host that is not cluster-internal/)],
    });
    const off = checkServerEndpoints(metadata, 'https://id.example.org', false);
    expect(off.refusals.map((refusal) => refusal.split(' ')[0])).toEqual(['token_endpoint', 'userinfo_endpoint', 'jwks_uri']);
    expect(off.http).toEqual([]);
  });
});
