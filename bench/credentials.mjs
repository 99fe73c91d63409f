/**
 * The `credentials` phase of `npm run bench` (issue 17): what each way of proving who one is costs a
 * read. Manifest GET and HEAD on a Berth of its own (htpasswd, API keys, http.auth.bearer with one
 * workload issuer served from this process: OIDC discovery and a JWKS, RS256 like Kubernetes and
 * GitHub), the same closed loop as the manifest row, once per credential:
 *   Basic htpasswd (bcrypt, then Berth's credential cache), Basic API key, Bearer registry token
 *   (from /zot/auth/token, HS256), Bearer ID token (verified at each request: RS256 and CEL).
 * Rows: req/s (median of rounds), p99 and server CPU per request. A registry token is fetched anew
 * each round (they live five minutes).
 */
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Pool } from 'undici';
import { median, runLoad } from './load.mjs';
import { OCI_MANIFEST, pushSmallImage, transferClient } from './registry-client.mjs';
import { cpuSecondsOf, startServer, stopServer, BENCH_ADMIN, writeAdminHtpasswd } from './servers.mjs';

const ADMIN = BENCH_ADMIN;
const REPO = 'bench/credentials';
const AUDIENCE = 'berth-bench';
const basic = (user, password) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** A workload issuer on loopback: discovery, JWKS, and ID tokens signed with one RS256 key. */
async function startIssuer() {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' };
  let issuer = '';
  const server = createServer((request, response) => {
    const body = request.url === '/.well-known/openid-configuration' ? { issuer, jwks_uri: `${issuer}/keys` } : request.url === '/keys' ? { keys: [jwk] } : undefined;
    response.writeHead(body ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? {}));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${server.address().port}`;
  return {
    issuer,
    sign: () =>
      new SignJWT({ 'kubernetes.io': { namespace: 'ci', serviceaccount: { name: 'pusher' } } })
        .setProtectedHeader({ alg: 'RS256', kid: 'bench' })
        .setIssuer(issuer)
        .setSubject('system:serviceaccount:ci:pusher')
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(privateKey),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

function credentialsConfig(issuer) {
  return (config, root) => {
    const htpasswd = writeAdminHtpasswd(root);
    return {
      ...config,
      http: {
        ...config.http,
        auth: { htpasswd: { path: htpasswd }, apikey: true, bearer: { service: 'bench', oidc: [{ issuer, audiences: [AUDIENCE] }] } },
        accessControl: {
          repositories: { '**': { policies: [{ users: [`${issuer}/system:serviceaccount:ci:pusher`], actions: ['read'] }] } },
          adminPolicy: { users: [ADMIN.user], actions: ['read', 'create', 'update', 'delete'] },
        },
      },
    };
  };
}

async function call(server, method, url, headers, body) {
  const pool = new Pool(server.base, { connections: 1 });
  try {
    const response = await pool.request({ method, path: url, headers, body });
    const text = await response.body.text();
    if (response.statusCode >= 300) throw new Error(`${method} ${url}: HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
    return JSON.parse(text || '{}');
  } finally {
    await pool.close();
  }
}

/** Runs the phase; returns `{ report }` printing its table after the main one. */
export async function runCredentialsPhase({ settings, say, nodeArgs = [], main }) {
  const issuer = await startIssuer();
  const server = await startServer('berth', { nodeArgs, main, extend: credentialsConfig(issuer.issuer), name: 'Berth (credentials)' });
  say(`started ${server.name} pid ${server.pid} on ${server.base}: htpasswd, API keys, one workload issuer at ${issuer.issuer}`);
  const rows = [];
  try {
    const admin = basic(ADMIN.user, ADMIN.password);
    const client = transferClient(server);
    try {
      await pushSmallImage({ request: (options) => client.request({ ...options, headers: { authorization: admin, ...options.headers } }), close: () => client.close() }, server, REPO, 'latest');
    } finally {
      await client.close();
    }
    const { apiKey } = await call(server, 'POST', '/zot/auth/apikey', { authorization: admin, 'content-type': 'application/json' }, '{"label":"bench"}');
    const idToken = await issuer.sign();
    const registryToken = async () => `Bearer ${(await call(server, 'GET', `/zot/auth/token?service=bench&scope=repository:${REPO}:pull`, { authorization: basic('ci', idToken) })).token}`;
    const credentials = [
      ['Basic htpasswd', async () => admin],
      ['Basic API key', async () => basic(ADMIN.user, apiKey)],
      ['Bearer registry token', registryToken],
      ['Bearer ID token', async () => `Bearer ${idToken}`],
    ];
    for (const method of ['GET', 'HEAD']) {
      for (const [label, authorization] of credentials) {
        const rounds = [];
        for (let round = 0; round < settings.rounds; round++) {
          const result = await runLoad({
            base: server.base,
            connections: settings.connections,
            count: settings.requests,
            maxMs: settings.loadMaxMs,
            warmup: Math.min(2000, settings.requests),
            cpuSeconds: () => cpuSecondsOf(server.pid),
            request: { method, path: `/v2/${REPO}/manifests/latest`, headers: { accept: OCI_MANIFEST, authorization: await authorization() } },
            ...(method === 'HEAD' ? { raw: true } : {}),
          });
          if (result.errors > 0) throw new Error(`${label} ${method}: ${result.errors} errors, first: ${result.firstError}`);
          rounds.push(result);
          say(`  credentials: manifest ${method} with ${label}: ${result.rps.toFixed(0)} req/s, p99 ${result.p99.toFixed(2)} ms, ${result.cpuMicrosPerRequest.toFixed(0)} µs CPU/req`);
        }
        rows.push({
          label: `manifest ${method}, ${label}`,
          rps: median(rounds.map((r) => r.rps)),
          p99: median(rounds.map((r) => r.p99)),
          cpu: median(rounds.map((r) => r.cpuMicrosPerRequest)),
        });
      }
    }
  } finally {
    await stopServer(server);
    await issuer.close();
  }
  return {
    report() {
      say('');
      say(`Credentials: manifest reads x${settings.requests}, ${settings.connections} conns, median of ${settings.rounds} rounds, one credential at a time.`);
      say('');
      say('| what | req/s | p99 ms | server CPU µs/req |');
      say('|---|---:|---:|---:|');
      for (const row of rows) say(`| ${row.label} | ${row.rps.toFixed(0)} | ${row.p99.toFixed(2)} | ${row.cpu.toFixed(0)} |`);
    },
  };
}
