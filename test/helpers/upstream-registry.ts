/**
 * Upstream registries for the sync tests: Debian's `docker-registry` (distribution 2.8) on a free
 * loopback port, open, behind htpasswd, or in its token mode behind a token server written here —
 * the flow Docker Hub, ghcr.io and quay.io use: a 401 with `Bearer realm,service,scope`, a GET to the
 * realm (Basic with the user's password), a JWT the registry checks against the certificate it
 * trusts (RS256, the certificate in the `x5c` header, the registry's `rootcertbundle`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { importPKCS8, SignJWT } from 'jose';
import { htpasswdText } from './htpasswd.js';
import { freePort } from './redis-server.js';
import { runTool } from './run-tool.js';
import { scratchDir } from './scratch.js';

export const DOCKER_REGISTRY = '/usr/bin/docker-registry';

export type UpstreamAuth = { htpasswd: Record<string, string> } | { token: TokenServer };

export interface UpstreamRegistry {
  /** http://127.0.0.1:PORT */
  url: string;
  root: string;
  /** What the registry printed (its access log, at info level). */
  output(): string;
  /** Kills it (SIGKILL: an upstream that goes away). */
  stop(): Promise<void>;
  /** Starts it again, on the same port and storage. */
  start(): Promise<void>;
}

export async function startDockerRegistry(options: { auth?: UpstreamAuth } = {}): Promise<UpstreamRegistry> {
  const root = await scratchDir('docker-registry');
  const port = await freePort();
  let auth = '';
  if (options.auth && 'htpasswd' in options.auth) {
    const file = path.join(root, 'htpasswd');
    await writeFile(file, htpasswdText(options.auth.htpasswd));
    auth = `auth:\n  htpasswd:\n    realm: upstream\n    path: ${file}\n`;
  } else if (options.auth && 'token' in options.auth) {
    const token = options.auth.token;
    auth = `auth:\n  token:\n    realm: ${token.url}/token\n    service: ${token.service}\n    issuer: ${token.issuer}\n    rootcertbundle: ${token.certFile}\n`;
  }
  const config = path.join(root, 'config.yml');
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(root, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
  );
  let child: ChildProcess | undefined;
  let output = '';
  const url = `http://127.0.0.1:${port}`;
  const start = async () => {
    const started: ChildProcess = spawn(DOCKER_REGISTRY, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-1_000_000);
    };
    started.stdout!.on('data', keep);
    started.stderr!.on('data', keep);
    const until = Date.now() + 15_000;
    for (;;) {
      const answered = await fetch(`${url}/v2/`).then(
        (response) => response.status,
        () => 0,
      );
      if (answered === 200 || answered === 401) break;
      if (Date.now() > until || started.exitCode !== null) throw new Error(`docker-registry did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  await start();
  return {
    url,
    root,
    output: () => output,
    async stop() {
      const running = child;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGKILL');
      await exited;
    },
    start,
  };
}

export interface TokenServer {
  /** http://127.0.0.1:PORT (the realm is `${url}/token`). */
  url: string;
  service: string;
  issuer: string;
  /** The certificate the registry trusts (rootcertbundle). */
  certFile: string;
  /** Each token request: the scope asked for and the user (undefined = anonymous). */
  requests: Array<{ scope: string | null; user: string | undefined }>;
  /** Token lifetime in seconds for the next tokens. */
  expiresIn: number;
  stop(): Promise<void>;
}

/**
 * A token server as distribution's token spec describes: users by password (Basic), each granted
 * every action it asks for on any repository; anonymous callers only `pull`, and only when
 * `anonymousPull` is set. Wrong passwords get 401.
 */
export async function startTokenServer(options: { users: Record<string, string>; anonymousPull?: boolean }): Promise<TokenServer> {
  const dir = await scratchDir('token-server');
  const certFile = path.join(dir, 'token.crt');
  const keyFile = path.join(dir, 'token.key');
  await runTool('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=berth-test-token-issuer', '-keyout', keyFile, '-out', certFile]);
  const key = await importPKCS8(await readFile(keyFile, 'utf8'), 'RS256');
  const x5c = Buffer.from(new X509Certificate(await readFile(certFile)).raw).toString('base64');
  const state: Omit<TokenServer, 'url' | 'stop'> = { service: 'upstream-registry', issuer: 'berth-test-issuer', certFile, requests: [], expiresIn: 300 };
  const server: Server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://token');
      const header = request.headers.authorization ?? '';
      let user: string | undefined;
      if (header.startsWith('Basic ')) {
        const [name, ...rest] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':');
        if (options.users[name!] === undefined || options.users[name!] !== rest.join(':')) {
          response.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"wrong user or password"}');
          return;
        }
        user = name;
      }
      const scope = url.searchParams.get('scope');
      state.requests.push({ scope, user });
      const access: Array<{ type: string; name: string; actions: string[] }> = [];
      if (scope) {
        const [type, name, actions] = [scope.slice(0, scope.indexOf(':')), scope.slice(scope.indexOf(':') + 1, scope.lastIndexOf(':')), scope.slice(scope.lastIndexOf(':') + 1).split(',')];
        const granted = user ? actions : options.anonymousPull ? actions.filter((action) => action === 'pull') : [];
        if (granted.length > 0) access.push({ type, name, actions: granted });
      }
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ access })
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', x5c: [x5c] })
        .setIssuer(state.issuer)
        .setSubject(user ?? '')
        .setAudience(url.searchParams.get('service') ?? '')
        .setIssuedAt(now)
        .setNotBefore(now - 5)
        .setExpirationTime(now + state.expiresIn)
        .setJti(Math.random().toString(36).slice(2))
        .sign(key);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: state.expiresIn, issued_at: new Date(now * 1000).toISOString() }));
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

/** Basic credentials, then (token mode) a Bearer token for `scope` from the token server, for pushing test images upstream. */
export async function upstreamHeaders(registry: UpstreamRegistry, auth: UpstreamAuth | undefined, user: string, password: string, repository: string): Promise<Record<string, string>> {
  const basic = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  if (!auth || 'htpasswd' in auth) return { authorization: basic };
  const answer = await fetch(`${auth.token.url}/token?service=${auth.token.service}&scope=repository:${repository}:pull,push`, { headers: { authorization: basic } });
  const { token } = (await answer.json()) as { token: string };
  void registry;
  return { authorization: `Bearer ${token}` };
}
