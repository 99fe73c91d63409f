/**
 * Pocket ID in Kubernetes: APP_URL is https (the Ingress), INTERNAL_APP_URL an http Service URL,
 * so discovery names http token, UserInfo and JWKS endpoints under an https issuer.
 *
 * How the test builds that honestly on one machine: the test provider serves its issuer over real
 * TLS (`https://127.0.0.1:<port>`, a self-signed certificate made with openssl) and names the
 * server-side endpoints under `http://localhost:<port2>`, a second, plain-http listener (`localhost`
 * is a single-label name, like a Service name resolved through the pod's search domains). Berth
 * runs as a real process that trusts the certificate through NODE_EXTRA_CA_CERTS, as an operator
 * would add a private CA; the browser leg (this test) trusts it through an undici Agent. A public
 * host is `id.example.com`: Berth must refuse it before connecting, so it needs no DNS.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killAllBerthProcesses, runBerthCommand, startBerthProcess, writeConfig, type BerthProcess } from '../helpers/berth-process.js';
import { loginThroughProvider, type FetchImpl } from '../helpers/oidc-login.js';
import { startOidcProvider, type OidcTestProvider } from '../helpers/oidc-provider.js';
import { runTool } from '../helpers/run-tool.js';
import { waitForDiscovery } from '../helpers/server.js';
import { TempDirs } from '../helpers/temp-dirs.js';
import { json } from '../helpers/registry-api.js';

const dirs = new TempDirs();
let dir: string;
let certFile: string;
let tls: { cert: string; key: string };
let browserFetch: FetchImpl;
let credentialsFile: string;
const providers: OidcTestProvider[] = [];
const servers: BerthProcess[] = [];

beforeAll(async () => {
  dir = await dirs.make('oidc-http-endpoints');
  certFile = path.join(dir, 'provider.crt');
  const keyFile = path.join(dir, 'provider.key');
  await runTool('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], {
    timeoutMs: 30_000,
  });
  tls = { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  const agent = new Agent({ connect: { ca: tls.cert } });
  browserFetch = ((url: string | URL, init?: RequestInit) => undiciFetch(url, { ...(init as object), dispatcher: agent })) as unknown as FetchImpl;
  credentialsFile = path.join(dir, 'oidc.json');
  await writeFile(credentialsFile, JSON.stringify({ clientid: 'berth', clientsecret: 'in-cluster-secret' }));
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()));
  for (const provider of providers.splice(0)) {
    expect(provider.errors).toEqual([]);
    await provider.close();
  }
});

afterAll(async () => {
  await killAllBerthProcesses();
  await dirs.removeAll();
});

async function pocketIdInCluster(internalHost: string): Promise<OidcTestProvider> {
  const provider = await startOidcProvider({ tls, internalHost });
  providers.push(provider);
  return provider;
}

function openid(provider: OidcTestProvider, extra: Record<string, unknown> = {}) {
  return {
    http: {
      auth: {
        openid: {
          providers: {
            oidc: {
              name: 'Pocket ID',
              issuer: provider.issuer,
              credentialsFile,
              scopes: ['openid', 'profile', 'email', 'groups'],
              claimMapping: { username: 'preferred_username', groups: 'groups' },
              ...extra,
            },
          },
        },
      },
    },
    log: { level: 'info' },
  };
}

async function berthFor(provider: OidcTestProvider, extra: Record<string, unknown> = {}): Promise<BerthProcess> {
  const server = await startBerthProcess(await dirs.make('oidc-http-root'), openid(provider, extra), { env: { NODE_EXTRA_CA_CERTS: certFile } });
  servers.push(server);
  await provider.setClient({ clientId: 'berth', clientSecret: 'in-cluster-secret', redirectUris: [`${server.url}/zot/auth/callback/oidc`] });
  return server;
}

/** Waits until discovery has run at least once (answered or refused). */
async function unavailableReason(server: BerthProcess): Promise<string | undefined> {
  for (let i = 0; i < 100; i += 1) {
    const methods = await json(await fetch(`${server.url}/v2/_zot/ext/mgmt`));
    const reason = methods.http.auth.openid.providers.oidc.unavailable as string | undefined;
    if (reason !== 'discovery has not finished yet') return reason;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('discovery never finished');
}

async function verify(provider: OidcTestProvider | string, extra: Record<string, unknown> = {}) {
  const document = typeof provider === 'string' ? { ...openid({ issuer: provider } as OidcTestProvider, extra) } : openid(provider, extra);
  const config = await writeConfig(await dirs.make('oidc-verify-root'), document);
  try {
    return { ...(await runBerthCommand('verify', config.file, { NODE_EXTRA_CA_CERTS: certFile })), file: config.file };
  } finally {
    await config.remove();
  }
}

describe('an https issuer with http endpoints on a cluster-internal host', () => {
  it('signs in with allowHttpEndpoints: the code goes to the internal http token endpoint', async () => {
    const op = await pocketIdInCluster('localhost');
    expect(op.issuer).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(op.endpoints.token).toMatch(/^http:\/\/localhost:\d+\/api\/oidc\/token$/);
    const server = await berthFor(op, { allowHttpEndpoints: true });
    await waitForDiscovery(server);
    const login = await loginThroughProvider({ startUrl: `${server.url}/zot/auth/login?provider=oidc`, username: 'alice', fetchImpl: browserFetch });
    expect(login.response.status, await login.response.clone().text()).toBe(302);
    expect(login.jar.get(server.url, 'user')?.value).toBe('alice');
    const internal = op.requests.filter((request) => request.internal).map((request) => `${request.method} ${request.url.split('?')[0]}`);
    expect(internal).toEqual(expect.arrayContaining(['POST /api/oidc/token', 'GET /.well-known/jwks.json', 'GET /api/oidc/userinfo']));
    expect(op.requests.some((request) => !request.internal && request.url.startsWith('/api/oidc/token'))).toBe(false);
    expect(server.output()).toMatch(/over plain http: token_endpoint http:\/\/localhost:\d+\/api\/oidc\/token/);
  });

  it('without the opt-in, refuses at discovery and names the endpoint and the key (not "only requests to HTTPS are allowed" at sign-in)', async () => {
    const op = await pocketIdInCluster('localhost');
    const server = await berthFor(op);
    expect(await unavailableReason(server)).toMatch(/token_endpoint http:\/\/localhost:\d+\/api\/oidc\/token is plain http; .*"allowHttpEndpoints": true/);
    const login = await fetch(`${server.url}/zot/auth/login?provider=oidc`, { redirect: 'manual' });
    expect(login.status).toBe(503);
    expect(op.requests.some((request) => request.internal)).toBe(false);
  });

  it('refuses http on a public host even with the opt-in, without connecting to it', async () => {
    const op = await pocketIdInCluster('id.example.com');
    const server = await berthFor(op, { allowHttpEndpoints: true });
    expect(await unavailableReason(server)).toMatch(/token_endpoint http:\/\/id\.example\.com:\d+\/api\/oidc\/token is plain http on a host that is not cluster-internal/);
    expect((await fetch(`${server.url}/zot/auth/login?provider=oidc`, { redirect: 'manual' })).status).toBe(503);
  });
});

describe('berth verify', () => {
  it('names the endpoints it will call over plain http', async () => {
    const op = await pocketIdInCluster('localhost');
    const result = await verify(op, { allowHttpEndpoints: true });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`/http/auth/openid/providers/oidc: discovered ${op.issuer} \\(ID tokens signed with RS256\\)`));
    expect(result.stdout).toMatch(/token_endpoint http:\/\/localhost:\d+\/api\/oidc\/token is plain http, allowed by allowHttpEndpoints/);
    expect(result.stdout).toMatch(/: ok$/m);
  });

  it('fails naming each endpoint Berth would refuse', async () => {
    const op = await pocketIdInCluster('localhost');
    const result = await verify(op);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${result.file}: /http/auth/openid/providers/oidc: token_endpoint ${op.endpoints.token} is plain http;`);
    expect(result.stderr).toMatch(/userinfo_endpoint .*jwks_uri/s);
    expect(result.stdout).not.toMatch(/: ok$/m);
  });

  it('only warns when the provider cannot be reached, and warns about a groups claim without the groups scope', async () => {
    const op = await pocketIdInCluster('localhost');
    const issuer = op.issuer;
    await op.close();
    providers.splice(0);
    const result = await verify(issuer, { scopes: ['openid', 'profile'] });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`^warning: .*/http/auth/openid/providers/oidc: the identity provider at ${issuer} cannot be reached now \\(.+\\); its endpoints were not checked$`, 'm'));
    expect(result.stderr).toMatch(/^warning: .*\/scopes: claimMapping\.groups names the "groups" claim but the "groups" scope is not requested/m);
  });
});
