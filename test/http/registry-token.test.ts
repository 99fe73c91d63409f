/**
 * Docker's token flow with http.auth.bearer: /v2 challenges with Bearer (realm, service, scope),
 * /zot/auth/token takes an ID token, an htpasswd password or an API key (Basic or form fields) and
 * answers a registry token limited to the scopes asked for AND allowed by accessControl, which /v2
 * then accepts without a lookup. The attacks: forged, tampered, re-keyed, unsigned and expired
 * registry tokens; a registry token offered as a password; wrong credentials at the endpoint, each
 * audited with the failed check and never the token.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { base64url, decodeJwt, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { pushImage } from '../helpers/registry-api.js';
import { scratchDir } from '../helpers/scratch.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { redisUrl } from '../helpers/services.js';
import { RedisCoordination } from '../../src/coordination/redis-coordination.js';
import { githubActionsClaims, serviceAccountClaims, startWorkloadIssuer, type WorkloadIssuer } from '../helpers/workload-issuer.js';

let issuer: WorkloadIssuer;
let server: TestServer;
let audit: string;
const REALM = 'https://registry.example/zot/auth/token';
const SERVICE = 'registry.example';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  issuer = await startWorkloadIssuer();
  audit = path.join(await scratchDir('registry-token-audit'), 'audit.log');
  const htpasswd = await writeHtpasswd({ admin: 'admin-pw', robot: 'robot-pw' });
  const flux = `${issuer.issuer}/system:serviceaccount:flux-system:source-controller`;
  server = await startBerth({
    config: {
      log: { audit },
      http: {
        auth: {
          htpasswd: { path: htpasswd },
          apikey: true,
          bearer: {
            realm: REALM,
            service: SERVICE,
            oidc: [{ issuer: issuer.issuer, audiences: ['berth'], claimMapping: { groups: "has(claims.repository_owner) ? ['gh:' + claims.repository_owner] : []" } }],
          },
        },
        accessControl: {
          repositories: {
            'flux/**': { policies: [{ users: [flux], actions: ['read'] }] },
            'acme/**': { policies: [{ groups: ['gh:acme'], actions: ['read', 'create'] }] },
            'robots/**': { policies: [{ users: ['robot'], actions: ['read', 'create'] }] },
          },
          adminPolicy: { users: ['admin'], actions: ['read', 'create', 'update', 'delete'] },
        },
      },
    },
  });
  await pushImage(server.url, 'flux/app', 'v1', { headers: { authorization: basicAuth('admin', 'admin-pw') } });
});
afterAll(async () => {
  await server?.close();
  await issuer?.close();
});

async function token(query: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.url}/zot/auth/token?service=${SERVICE}&${query}`, { headers });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function auditLines(): Promise<Record<string, unknown>[]> {
  const text = await readFile(audit, 'utf8').catch(() => '');
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The latest audit line of event `token` that satisfies `match` (the log is written after the response). */
async function tokenAudit(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown> | undefined> {
  for (let i = 0; i < 50; i++) {
    const line = (await auditLines()).reverse().find((entry) => entry.event === 'token' && match(entry));
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return undefined;
}

/**
 * The signing secret as Berth keeps it: a file under the storage root (`_berth/registry-token-keys/`)
 * for one process on disk; a record in Redis when the storage is S3 with Redis (the s3 project).
 */
async function storedSecret(): Promise<{ key: Uint8Array; mode?: number }> {
  if (server.bucket !== undefined) {
    const coordination = await RedisCoordination.start({ url: redisUrl(), keyPrefix: server.bucket });
    try {
      return { key: Buffer.from((await coordination.records<string>('registry-token-keys').get('secret'))!, 'base64url') };
    } finally {
      await coordination.close();
    }
  }
  const folder = path.join(server.root, '_berth', 'registry-token-keys');
  const [file] = (await readdir(folder)).filter((name) => !name.startsWith('.'));
  const full = path.join(folder, file!);
  const record = JSON.parse(await readFile(full, 'utf8')) as { value: string };
  return { key: Buffer.from(record.value, 'base64url'), mode: (await stat(full)).mode & 0o777 };
}

describe('the Bearer challenge', () => {
  it('names the realm, the service and the scope the request needs', async () => {
    const ping = await fetch(`${server.url}/v2/`);
    expect(ping.status).toBe(401);
    expect(ping.headers.get('www-authenticate')).toBe(`Bearer realm="${REALM}",service="${SERVICE}"`);
    const read = await fetch(`${server.url}/v2/acme/app/manifests/v1`);
    expect(read.headers.get('www-authenticate')).toBe(`Bearer realm="${REALM}",service="${SERVICE}",scope="repository:acme/app:pull"`);
    const write = await fetch(`${server.url}/v2/acme/app/blobs/uploads/`, { method: 'POST' });
    expect(write.headers.get('www-authenticate')).toBe(`Bearer realm="${REALM}",service="${SERVICE}",scope="repository:acme/app:pull,push"`);
  });
});

describe('the token endpoint', () => {
  it('gives a GitHub Actions job (Basic ci:<ID token>) a token for what it asked and may do, which pushes', async () => {
    const id = await issuer.sign(githubActionsClaims('acme/app', 'berth'));
    const { status, body } = await token('scope=repository:acme/app:pull,push', { authorization: basicAuth('ci', id) });
    expect(status).toBe(200);
    expect(body.token).toBe(body.access_token);
    expect(body.expires_in).toBe(300);
    expect(Date.parse(body.issued_at as string)).toBeGreaterThan(Date.now() - 60_000);
    const claims = decodeJwt(body.token as string);
    expect(claims.access).toEqual([{ type: 'repository', name: 'acme/app', actions: ['pull', 'push'] }]);
    expect(claims.aud).toBe(SERVICE);
    await pushImage(server.url, 'acme/app', 'v1', { headers: bearer(body.token as string) });
    const line = await tokenAudit((entry) => entry.outcome === 'ok' && entry.user === `${issuer.issuer}/repo:acme/app:ref:refs/heads/main`);
    expect(line?.via).toBe('workload');
  });

  it('grants only the intersection of the scopes asked for and what accessControl allows', async () => {
    const id = await issuer.sign(serviceAccountClaims('flux-system', 'source-controller', 'berth'));
    const { body } = await token('scope=repository:flux/app:pull,push,delete&scope=repository:acme/app:pull', { authorization: basicAuth('flux', id) });
    expect(decodeJwt(body.token as string).access).toEqual([
      { type: 'repository', name: 'flux/app', actions: ['pull'] },
      { type: 'repository', name: 'acme/app', actions: [] },
    ]);
    const headers = bearer(body.token as string);
    expect((await fetch(`${server.url}/v2/flux/app/manifests/v1`, { headers })).status).toBe(200);
    // Granted pull only: no push, and nothing of another repository, whatever the identity.
    expect((await fetch(`${server.url}/v2/flux/app/blobs/uploads/`, { method: 'POST', headers })).status).toBe(403);
    expect((await fetch(`${server.url}/v2/acme/app/tags/list`, { headers })).status).toBe(403);
    // The admin's token for one repository does not open another.
    const admin = await token('scope=repository:flux/app:pull', { authorization: basicAuth('admin', 'admin-pw') });
    expect((await fetch(`${server.url}/v2/acme/app/tags/list`, { headers: bearer(admin.body.token as string) })).status).toBe(403);
  });

  it('keeps htpasswd robots and API keys working: Basic at the endpoint and Basic on /v2', async () => {
    const robot = await token('scope=repository:robots/tool:pull,push', { authorization: basicAuth('robot', 'robot-pw') });
    expect(robot.status).toBe(200);
    await pushImage(server.url, 'robots/tool', 'v1', { headers: bearer(robot.body.token as string) });
    expect((await fetch(`${server.url}/v2/robots/tool/tags/list`, { headers: { authorization: basicAuth('robot', 'robot-pw') } })).status).toBe(200);
    const created = await fetch(`${server.url}/zot/auth/apikey`, {
      method: 'POST',
      headers: { authorization: basicAuth('robot', 'robot-pw'), 'content-type': 'application/json' },
      body: JSON.stringify({ label: 'ci' }),
    });
    expect(created.status).toBe(201);
    const { apiKey } = (await created.json()) as { apiKey: string };
    const keyed = await token('scope=repository:robots/tool:pull', { authorization: basicAuth('robot', apiKey) });
    expect(keyed.status).toBe(200);
    expect((await fetch(`${server.url}/v2/robots/tool/manifests/v1`, { method: 'HEAD', headers: bearer(keyed.body.token as string) })).status).toBe(200);
    expect((await fetch(`${server.url}/v2/robots/tool/manifests/v1`, { method: 'HEAD', headers: { authorization: basicAuth('robot', apiKey) } })).status).toBe(200);
  });

  it('takes the OAuth2 form (grant_type=password, id_token) as docker and containerd POST it', async () => {
    const id = await issuer.sign(githubActionsClaims('acme/app', 'berth'));
    for (const form of <Record<string, string>[]>[
      { grant_type: 'password', username: 'ci', password: id, service: SERVICE, scope: 'repository:acme/app:pull', client_id: 'containerd' },
      { id_token: id, service: SERVICE, scope: 'repository:acme/app:pull' },
    ]) {
      const response = await fetch(`${server.url}/zot/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { access_token: string };
      expect(decodeJwt(body.access_token).access).toEqual([{ type: 'repository', name: 'acme/app', actions: ['pull'] }]);
    }
    const odd = await fetch(`${server.url}/zot/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
    expect(odd.status).toBe(400);
  });

  it('gives the anonymous caller a token for what anonymous may do: nothing here', async () => {
    const { status, body } = await token('scope=repository:flux/app:pull');
    expect(status).toBe(200);
    expect(decodeJwt(body.token as string).access).toEqual([{ type: 'repository', name: 'flux/app', actions: [] }]);
    expect((await fetch(`${server.url}/v2/flux/app/manifests/v1`, { headers: bearer(body.token as string) })).status).toBe(401);
  });

  it('keeps its signing secret in the storage root, mode 0600 (in Redis when the storage is S3 with Redis)', async () => {
    const { key, mode } = await storedSecret();
    expect(key.length).toBe(32);
    expect(mode).toBe(server.bucket === undefined ? 0o600 : undefined);
  });
});

describe('attacks', () => {
  it.each([
    ['a wrong htpasswd password', () => basicAuth('robot', 'guess'), 'invalid username or password'],
    ['an ID token for another audience', async () => basicAuth('ci', await issuer.sign(githubActionsClaims('acme/app', 'other'))), 'the audience is not accepted (aud)'],
    ['an expired ID token', async () => basicAuth('ci', await issuer.sign(githubActionsClaims('acme/app', 'berth'), { expiresIn: -600 })), 'expired (exp)'],
    [
      'a registry token as the password',
      async () => basicAuth('ci', (await token('scope=repository:acme/app:pull', { authorization: basicAuth('admin', 'admin-pw') })).body.token as string),
      'a registry token is not a password',
    ],
  ])('the endpoint refuses %s with 401 and audits which check failed, never the credential', async (_name, make, reason) => {
    const authorization = await make();
    const { status } = await token('scope=repository:acme/app:pull,push', { authorization });
    expect(status).toBe(401);
    const line = await tokenAudit((entry) => entry.outcome === 'refused' && String(entry.reason).includes(reason));
    expect(line, `a token audit line with "${reason}"`).toBeDefined();
    const secret = Buffer.from(authorization.slice('Basic '.length), 'base64').toString('utf8').split(':')[1]!;
    expect(await readFile(audit, 'utf8')).not.toContain(secret.length > 20 ? secret.split('.')[1]! : secret);
  });

  it.each([
    [
      'a tampered grant (pull widened to push)',
      async (real: string) => {
        const [header, payload, signature] = real.split('.');
        const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as { access: { actions: string[] }[] };
        claims.access[0]!.actions = ['pull', 'push'];
        return `${header}.${base64url.encode(JSON.stringify(claims))}.${signature}`;
      },
      'the signature does not verify',
    ],
    ['a token signed with another secret', async (real: string) => new SignJWT(decodeJwt(real)).setProtectedHeader({ alg: 'HS256' }).sign(new Uint8Array(32).fill(7)), 'the signature does not verify'],
    ['an unsigned token (alg none)', async (real: string) => `${base64url.encode('{"alg":"none"}')}.${real.split('.')[1]}.`, 'the algorithm is not accepted'],
    [
      'an expired token under the real secret',
      async (real: string) => {
        const now = Math.floor(Date.now() / 1000);
        return new SignJWT({ ...decodeJwt(real), iat: now - 900, nbf: now - 900, exp: now - 600 }).setProtectedHeader({ alg: 'HS256' }).sign((await storedSecret()).key);
      },
      'expired (exp)',
    ],
    [
      'a token for another service under the real secret',
      async (real: string) => new SignJWT({ ...decodeJwt(real), aud: 'elsewhere.example' }).setProtectedHeader({ alg: 'HS256' }).sign((await storedSecret()).key),
      'claim aud failed',
    ],
  ])('/v2 refuses %s with 401', async (_name, forge, reason) => {
    const id = await issuer.sign(serviceAccountClaims('flux-system', 'source-controller', 'berth'));
    const real = (await token('scope=repository:flux/app:pull', { authorization: basicAuth('flux', id) })).body.token as string;
    const forged = await forge(real);
    const response = await fetch(`${server.url}/v2/flux/app/blobs/uploads/`, { method: 'POST', headers: bearer(forged) });
    expect(response.status).toBe(401);
    expect(JSON.stringify(await response.json())).toContain(reason);
  });

  it('a registry token cannot be exchanged for a fresh one (a stolen token would otherwise live forever)', async () => {
    const real = (await token('scope=repository:flux/app:pull', { authorization: basicAuth('admin', 'admin-pw') })).body.token as string;
    const { status, body } = await token('scope=repository:flux/app:pull', bearer(real));
    expect(status).toBe(401);
    expect(JSON.stringify(body)).toContain('a registry token cannot be exchanged');
    const form = await fetch(`${server.url}/zot/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: real }),
    });
    expect(form.status).toBe(401);
  });

  it('a registry token cannot mint an API key (a five-minute, one-repository token would become a lasting password)', async () => {
    const real = (await token('scope=repository:robots/tool:pull', { authorization: basicAuth('robot', 'robot-pw') })).body.token as string;
    const minted = await fetch(`${server.url}/zot/auth/apikey`, { method: 'POST', headers: { ...bearer(real), 'content-type': 'application/json' }, body: '{"label":"stolen"}' });
    expect(minted.status).toBe(401);
    expect((await fetch(`${server.url}/zot/auth/apikey`, { headers: bearer(real) })).status).toBe(401);
  });

  it('a token signed with the real secret is what /v2 accepts (the forgeries above fail on their flaw alone)', async () => {
    const id = await issuer.sign(serviceAccountClaims('flux-system', 'source-controller', 'berth'));
    const real = (await token('scope=repository:flux/app:pull', { authorization: basicAuth('flux', id) })).body.token as string;
    const resigned = await new SignJWT(decodeJwt(real)).setProtectedHeader({ alg: 'HS256' }).sign((await storedSecret()).key);
    expect((await fetch(`${server.url}/v2/flux/app/manifests/v1`, { headers: bearer(resigned) })).status).toBe(200);
  });
});
