/**
 * Workload ID tokens as `Authorization: Bearer` on /v2: a Kubernetes ServiceAccount and a GitHub
 * Actions job get exactly what accessControl gives their mapped names and groups; the attacks are
 * refused with 401 and an audit line that names the failed check and never holds the token.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { base64url } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeHtpasswd, basicAuth } from '../helpers/htpasswd.js';
import { loginThroughProvider } from '../helpers/oidc-login.js';
import { startOidcProvider, type OidcTestProvider } from '../helpers/oidc-provider.js';
import { pushImage } from '../helpers/registry-api.js';
import { scratchDir } from '../helpers/scratch.js';
import { signInWithPassword } from '../helpers/ui-session.js';
import { startBerth, waitForDiscovery, type TestServer } from '../helpers/server.js';
import { githubActionsClaims, serviceAccountClaims, startWorkloadIssuer, type WorkloadIssuer } from '../helpers/workload-issuer.js';

let issuer: WorkloadIssuer;
let op: OidcTestProvider;
let server: TestServer;
let audit: string;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  issuer = await startWorkloadIssuer();
  const flux = `${issuer.issuer}/system:serviceaccount:flux-system:source-controller`;
  // A person whose provider lets them pick a name that is a workload's, and an ordinary one.
  op = await startOidcProvider({ users: [{ username: flux }, { username: 'dora' }] });
  const dir = await scratchDir('workload-audit');
  audit = path.join(dir, 'audit.log');
  const credentialsFile = path.join(dir, 'oidc.json');
  await writeFile(credentialsFile, JSON.stringify({ clientid: 'berth', clientsecret: 'workload-test-secret' }));
  const htpasswd = await writeHtpasswd({ admin: 'admin-pw', dev: 'dev-pw' });
  server = await startBerth({
    config: {
      log: { audit },
      extensions: { ui: { enable: true } },
      http: {
        auth: {
          htpasswd: { path: htpasswd },
          openid: { providers: { oidc: { name: 'Pocket ID', issuer: op.issuer, credentialsFile, scopes: ['openid', 'profile'], claimMapping: { username: 'preferred_username' } } } },
          bearer: {
            oidc: [
              {
                issuer: issuer.issuer,
                audiences: ['berth'],
                claimMapping: {
                  // A claim that names the account: the way a custom mapping could collide with a person.
                  username: "has(claims.as) ? claims.as : claims.iss + '/' + claims.sub",
                  groups: "has(claims.repository_owner) ? ['gh:' + claims.repository_owner] : []",
                  validations: [{ expression: "!has(claims.repository_owner) || claims.repository_owner == 'acme'", message: 'only the acme organisation' }],
                },
              },
            ],
          },
        },
        accessControl: {
          groups: { ci: { users: [] } },
          repositories: {
            'flux/**': { policies: [{ users: [flux], actions: ['read'] }] },
            'acme/**': { policies: [{ groups: ['gh:acme'], actions: ['read', 'create'] }] },
          },
          adminPolicy: { users: ['admin'], actions: ['read', 'create', 'update', 'delete'] },
        },
      },
    },
  });
  await op.setClient({ clientId: 'berth', clientSecret: 'workload-test-secret', redirectUris: [`${server.url}/zot/auth/callback/oidc`] });
  await waitForDiscovery(server);
  await pushImage(server.url, 'flux/app', 'v1', { headers: { authorization: basicAuth('admin', 'admin-pw') } });
});
afterAll(async () => {
  await server?.close();
  await issuer?.close();
  await op?.close();
});

describe('workload identity: Bearer ID token on /v2', () => {
  it('a ServiceAccount reads what its mapped name may read, and nothing else', async () => {
    const token = await issuer.sign(serviceAccountClaims('flux-system', 'source-controller', 'berth'));
    expect((await fetch(`${server.url}/v2/flux/app/manifests/v1`, { headers: bearer(token) })).status).toBe(200);
    expect((await fetch(`${server.url}/v2/acme/app/tags/list`, { headers: bearer(token) })).status).toBe(403);
  });

  it('a GitHub Actions job of acme pushes through its mapped group', async () => {
    const token = await issuer.sign(githubActionsClaims('acme/app', 'berth'));
    await pushImage(server.url, 'acme/app', 'v1', { headers: bearer(token) });
    expect((await fetch(`${server.url}/v2/acme/app/tags/list`, { headers: bearer(token) })).status).toBe(200);
  });

  it.each([
    ['another audience', async () => issuer.sign({ ...serviceAccountClaims('flux-system', 'source-controller', 'other') }), 'the audience is not accepted (aud)'],
    ['an expired token', async () => issuer.sign(serviceAccountClaims('flux-system', 'source-controller', 'berth'), { expiresIn: -600 }), 'expired (exp)'],
    [
      'alg none',
      async () =>
        `${base64url.encode('{"alg":"none"}')}.${base64url.encode(JSON.stringify({ ...serviceAccountClaims('flux-system', 'source-controller', 'berth'), iss: issuer.issuer, exp: Math.floor(Date.now() / 1000) + 600 }))}.`,
      'unsigned (alg none)',
    ],
    ['HS256', async () => `${base64url.encode(JSON.stringify({ alg: 'HS256' }))}.${base64url.encode(JSON.stringify({ iss: issuer.issuer }))}.AAAA`, 'algorithm HS256 is not accepted'],
    [
      'an unconfigured issuer',
      async () => `${base64url.encode(JSON.stringify({ alg: 'RS256' }))}.${base64url.encode(JSON.stringify({ iss: 'https://elsewhere.example' }))}.AAAA`,
      'the issuer is not configured',
    ],
    ['a failed validation', async () => issuer.sign(githubActionsClaims('evil/app', 'berth')), 'claim validation failed: only the acme organisation'],
  ])('refuses %s with 401 and an audit line naming the check', async (_name, make, reason) => {
    const token = await make();
    const response = await fetch(`${server.url}/v2/acme/app/blobs/uploads/`, { method: 'POST', headers: bearer(token) });
    expect(response.status).toBe(401);
    expect(JSON.stringify(await response.json())).toContain(reason);
    const text = await readFile(audit, 'utf8');
    const line = text
      .trim()
      .split('\n')
      .reverse()
      .find((entry) => entry.includes(reason));
    expect(line, `an audit line with "${reason}"`).toBeDefined();
    expect(text).not.toContain(token.split('.')[1]!);
  });
});

describe('workload names never collide with people (refused, in both directions)', () => {
  it('refuses a workload token whose mapped name is an htpasswd account', async () => {
    const token = await issuer.sign({ ...serviceAccountClaims('flux-system', 'source-controller', 'berth'), as: 'admin' });
    const response = await fetch(`${server.url}/v2/flux/app/manifests/v1`, { headers: bearer(token) });
    expect(response.status).toBe(401);
    expect(JSON.stringify(await response.json())).toContain('the mapped user name is a local htpasswd account');
  });

  it('refuses a workload token whose mapped name is bound to a user of an identity provider', async () => {
    const login = await loginThroughProvider({ startUrl: `${server.url}/zot/auth/login?provider=oidc`, username: 'dora' });
    expect(login.response.status).toBe(302);
    const token = await issuer.sign({ ...serviceAccountClaims('flux-system', 'source-controller', 'berth'), as: 'dora' });
    const response = await fetch(`${server.url}/v2/flux/app/manifests/v1`, { headers: bearer(token) });
    expect(response.status).toBe(401);
    expect(JSON.stringify(await response.json())).toContain('the mapped user name belongs to a user of an identity provider');
  });

  it("refuses the sign-in of a person whose name is in a workload issuer's namespace", async () => {
    const flux = `${issuer.issuer}/system:serviceaccount:flux-system:source-controller`;
    const login = await loginThroughProvider({ startUrl: `${server.url}/zot/auth/login?provider=oidc`, username: flux });
    // The web UI is on: the refusal is its sign-in page, with the reason.
    expect(login.response.status).toBe(303);
    expect(login.response.headers.get('location')).toContain('error=name-taken');
    expect(login.jar.get(server.url, 'session')).toBeUndefined();
    const text = await readFile(audit, 'utf8');
    expect(text).toContain("the name is in a workload issuer's namespace");
  });
});

describe('the account page', () => {
  it('shows an admin which issuers are trusted, and nobody else', async () => {
    const admin = await (await signInWithPassword(server.url, 'admin', 'admin-pw')).browse('/account');
    expect(admin.status).toBe(200);
    const page = await admin.text();
    expect(page).toContain('Trusted workload issuers');
    expect(page).toContain(`<code>${issuer.issuer}</code>`);
    const dev = await (await (await signInWithPassword(server.url, 'dev', 'dev-pw')).browse('/account')).text();
    expect(dev).not.toContain('Trusted workload issuers');
    expect(dev).not.toContain(issuer.issuer);
  });
});
