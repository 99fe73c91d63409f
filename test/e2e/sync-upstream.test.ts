/**
 * The sync's upstream client against Debian's docker-registry: open, behind htpasswd (Basic), and
 * in token mode behind a token server (the Docker Hub flow), with tokens cached per scope until
 * they expire; the failures named as the registry will answer them; URLs tried in order; and, with
 * small servers that lie, a digest that does not match refused and a redirect that never carries
 * the upstream's credentials to another host.
 */
import { getEventListeners } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncRegistryConfig } from '../../src/config/config.js';
import { Upstream, UpstreamError } from '../../src/sync/upstream.js';
import { sha256 } from '../helpers/oci.js';
import { pushImage, type PushedImage } from '../helpers/registry-api.js';
import { selfSignedCertificate } from '../helpers/self-signed.js';
import { scratchDir } from '../helpers/scratch.js';
import { startDockerRegistry, startTokenServer, upstreamHeaders, type TokenServer, type UpstreamRegistry } from '../helpers/upstream-registry.js';

const warnings: string[] = [];
const log = { warn: (_facts: object, message: string) => void warnings.push(message) };

function upstream(urls: string[], credentials?: { host: string; username: string; password: string }, extra: Partial<SyncRegistryConfig> = {}): Upstream {
  return new Upstream(
    {
      urls,
      onDemand: true,
      manifestCheckIntervalMs: 300_000,
      content: [],
      tlsVerify: true,
      maxRetries: 0,
      retryDelayMs: 10,
      maxRetryDelayMs: 10,
      onlySigned: false,
      syncLegacyCosignTags: true,
      syncTimeoutMs: 60_000,
      reqConcurrent: 4,
      credentials: new Map(credentials ? [[credentials.host, { username: credentials.username, password: credentials.password }]] : []),
      ...extra,
    },
    log,
  );
}

const hostOf = (url: string) => new URL(url).host;

async function failureOf(work: Promise<unknown>): Promise<UpstreamError> {
  const error = await work.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

async function bytesOf(body: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of body) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

describe('sync upstream client', () => {
  let open: UpstreamRegistry;
  let basic: UpstreamRegistry;
  let tokens: TokenServer;
  let tokenMode: UpstreamRegistry;
  let openImage: PushedImage;
  let basicImage: PushedImage;
  let tokenImage: PushedImage;

  beforeAll(async () => {
    open = await startDockerRegistry();
    basic = await startDockerRegistry({ auth: { htpasswd: { robot: 'robot-pass' } } });
    tokens = await startTokenServer({ users: { hubuser: 'hub-pass' }, anonymousPull: true });
    tokenMode = await startDockerRegistry({ auth: { token: tokens } });
    openImage = await pushImage(open.url, 'library/alpine', 'latest');
    await pushImage(open.url, 'library/alpine', 'v2');
    basicImage = await pushImage(basic.url, 'team/app', '1.0', { headers: await upstreamHeaders(basic, { htpasswd: {} }, 'robot', 'robot-pass', 'team/app') });
    tokenImage = await pushImage(tokenMode.url, 'org/tool', 'stable', { headers: await upstreamHeaders(tokenMode, { token: tokens }, 'hubuser', 'hub-pass', 'org/tool') });
  }, 60_000);
  afterAll(async () => {
    await Promise.all([open?.stop(), basic?.stop(), tokenMode?.stop(), tokens?.stop()]);
  });

  it('reads manifests, blobs, tags and the catalog from an open upstream, digests checked', async () => {
    const client = upstream([open.url]);
    const manifest = await client.manifest('library/alpine', 'latest');
    expect(manifest.digest).toBe(openImage.digest);
    expect(manifest.bytes.equals(openImage.manifest)).toBe(true);
    expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect((await client.manifest('library/alpine', openImage.digest)).digest).toBe(openImage.digest);
    expect(await client.manifestDigest('library/alpine', 'latest', 2000)).toBe(openImage.digest);
    const blob = await client.blob('library/alpine', sha256(openImage.layers[0]!));
    expect(blob.length).toBe(openImage.layers[0]!.length);
    expect((await bytesOf(blob.body)).equals(openImage.layers[0]!)).toBe(true);
    expect((await client.tags('library/alpine')).sort()).toEqual(['latest', 'v2']);
    expect(await client.catalog()).toContain('library/alpine');
    // distribution 2.8 has no referrers API: none, not an error.
    expect(await client.referrers('library/alpine', openImage.digest)).toBeUndefined();
    const missing = await failureOf(client.manifest('library/alpine', 'nope'));
    expect(missing.failure).toBe('not-found');
    expect(missing.message).toContain(open.url);
    await client.close();
  });

  it('answers a Basic challenge with the credentials for that host, and names the upstream when refused', async () => {
    const client = upstream([basic.url], { host: hostOf(basic.url), username: 'robot', password: 'robot-pass' });
    expect((await client.manifest('team/app', '1.0')).digest).toBe(basicImage.digest);
    expect((await bytesOf((await client.blob('team/app', sha256(basicImage.config))).body)).equals(basicImage.config)).toBe(true);
    await client.close();
    const anonymous = upstream([basic.url]);
    const refused = await failureOf(anonymous.manifest('team/app', '1.0'));
    expect(refused.failure).toBe('unauthorized');
    expect(refused.message).toContain(basic.url);
    const wrong = upstream([basic.url], { host: hostOf(basic.url), username: 'robot', password: 'not-it' });
    const wrongAnswer = await failureOf(wrong.manifest('team/app', '1.0'));
    expect(wrongAnswer.failure).toBe('unauthorized');
    expect(wrongAnswer.message).not.toContain('not-it');
    await Promise.all([anonymous.close(), wrong.close()]);
  });

  it('follows the token flow (Docker Hub, ghcr.io): one token per scope while it lasts, a new one after', async () => {
    const client = upstream([tokenMode.url], { host: hostOf(tokenMode.url), username: 'hubuser', password: 'hub-pass' });
    const before = tokens.requests.length;
    expect((await client.manifest('org/tool', 'stable')).digest).toBe(tokenImage.digest);
    for (const layer of tokenImage.layers) expect((await bytesOf((await client.blob('org/tool', sha256(layer))).body)).equals(layer)).toBe(true);
    expect(await client.tags('org/tool')).toEqual(['stable']);
    const asked = tokens.requests.slice(before);
    expect(asked).toEqual([{ scope: 'repository:org/tool:pull', user: 'hubuser' }]);
    await client.close();

    // Short-lived tokens (11 s, renewed 10 s early) are asked for again once they have run out.
    tokens.expiresIn = 11;
    const shortLived = upstream([tokenMode.url], { host: hostOf(tokenMode.url), username: 'hubuser', password: 'hub-pass' });
    const start = tokens.requests.length;
    await shortLived.manifest('org/tool', 'stable');
    await shortLived.manifest('org/tool', 'stable');
    expect(tokens.requests.length - start).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await shortLived.manifest('org/tool', 'stable');
    expect(tokens.requests.length - start).toBe(2);
    tokens.expiresIn = 300;
    await shortLived.close();

    // Anonymous pulls get a pull-only token; a wrong password is refused by the token service, named.
    const anonymous = upstream([tokenMode.url]);
    expect((await anonymous.manifest('org/tool', 'stable')).digest).toBe(tokenImage.digest);
    expect(tokens.requests.at(-1)).toEqual({ scope: 'repository:org/tool:pull', user: undefined });
    const wrong = upstream([tokenMode.url], { host: hostOf(tokenMode.url), username: 'hubuser', password: 'bad-pass' });
    const refused = await failureOf(wrong.manifest('org/tool', 'stable'));
    expect(refused.failure).toBe('unauthorized');
    expect(refused.message).toContain(`the token service ${tokens.url} refused Berth's credentials`);
    expect(refused.message).not.toContain('bad-pass');
    await Promise.all([anonymous.close(), wrong.close()]);
  });

  it('tries the URLs in order while one is unreachable, retries as configured, then says unavailable', async () => {
    const { server: closed, url: deadUrl } = await listen(() => undefined);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const client = upstream([deadUrl, open.url]);
    expect((await client.manifest('library/alpine', 'latest')).digest).toBe(openImage.digest);
    await client.close();
    let attempts = 0;
    const { server: failing, url: failingUrl } = await listen((_request, response) => {
      attempts++;
      response.writeHead(503).end();
    });
    const retrying = upstream([failingUrl], undefined, { maxRetries: 2, retryDelayMs: 20, maxRetryDelayMs: 40 });
    const down = await failureOf(retrying.manifest('library/alpine', 'latest'));
    expect(down.failure).toBe('unavailable');
    expect(down.message).toContain('503');
    expect(attempts).toBe(3);
    await retrying.close();
    failing.close();
  });

  it('refuses a manifest whose bytes do not match the digest asked for or announced', async () => {
    const honest = openImage.manifest;
    const forged = Buffer.from(honest.toString('utf8').replace('"schemaVersion":2', '"schemaVersion": 2'));
    const { server, url } = await listen((request, response) => {
      const announced = request.url!.endsWith('/announced') ? openImage.digest : sha256(forged);
      response.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': announced, 'content-length': forged.length }).end(forged);
    });
    const client = upstream([url]);
    const byDigest = await failureOf(client.manifest('library/alpine', openImage.digest));
    expect(byDigest.failure).toBe('invalid');
    expect(byDigest.message).toContain(`the upstream's bytes have digest ${sha256(forged)}`);
    const announced = await failureOf(client.manifest('library/alpine', 'announced'));
    expect(announced.message).toContain(`announced ${openImage.digest} but its bytes have digest ${sha256(forged)}`);
    await client.close();
    server.close();
  });

  it("follows a blob redirect to another host without the upstream's credentials", async () => {
    const layer = Buffer.from('bytes from the CDN');
    const seen: IncomingHttpHeaders[] = [];
    const { server: cdn, url: cdnUrl } = await listen((request, response) => {
      seen.push(request.headers);
      response.writeHead(200, { 'content-length': layer.length }).end(layer);
    });
    const { server: registry, url } = await listen((request, response) => {
      if (request.headers.authorization !== `Basic ${Buffer.from('robot:robot-pass').toString('base64')}`) {
        response.writeHead(401, { 'www-authenticate': 'Basic realm="upstream"' }).end();
        return;
      }
      response.writeHead(307, { location: `${cdnUrl}/blob?signature=abc` }).end();
    });
    const client = upstream([url], { host: hostOf(url), username: 'robot', password: 'robot-pass' });
    const blob = await client.blob('team/app', sha256(layer));
    expect((await bytesOf(blob.body)).equals(layer)).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.authorization).toBeUndefined();
    await client.close();
    cdn.close();
    registry.close();
  });

  it('follows a relative redirect from the CDN against the CDN, not the upstream', async () => {
    const layer = Buffer.from('bytes behind a second hop');
    const cdnPaths: string[] = [];
    const { server: cdn, url: cdnUrl } = await listen((request, response) => {
      cdnPaths.push(request.url!);
      if (request.url === '/first') response.writeHead(302, { location: '/second' }).end();
      else response.writeHead(200, { 'content-length': layer.length }).end(layer);
    });
    const upstreamPaths: string[] = [];
    const { server: registry, url } = await listen((request, response) => {
      upstreamPaths.push(request.url!);
      response.writeHead(307, { location: `${cdnUrl}/first` }).end();
    });
    const client = upstream([url]);
    const blob = await client.blob('team/app', sha256(layer));
    expect((await bytesOf(blob.body)).equals(layer)).toBe(true);
    expect(cdnPaths).toEqual(['/first', '/second']);
    expect(upstreamPaths).toEqual([`/v2/team/app/blobs/${sha256(layer)}`]);
    await client.close();
    cdn.close();
    registry.close();
  });

  it('ends a tag list whose upstream keeps sending the same next page, with an error', async () => {
    let pages = 0;
    const { server, url } = await listen((_request, response) => {
      pages++;
      response.writeHead(200, { 'content-type': 'application/json', link: '</v2/team/app/tags/list?n=1000&last=a>; rel="next"' }).end(JSON.stringify({ name: 'team/app', tags: ['a'] }));
    });
    const client = upstream([url]);
    const failure = await failureOf(client.tags('team/app'));
    expect(failure.failure).toBe('invalid');
    expect(failure.message).toContain('already sent');
    expect(pages).toBe(2);
    await client.close();
    server.close();
  });

  it('keeps its deadline while a token service does not answer, and leaves no listener on a long-lived signal', async () => {
    const { server: silent, url: silentUrl } = await listen(() => undefined);
    const { server: registry, url } = await listen((_request, response) => {
      response.writeHead(401, { 'www-authenticate': `Bearer realm="${silentUrl}/token",service="upstream"` }).end();
    });
    const client = upstream([url]);
    const started = Date.now();
    const failure = await failureOf(client.manifestDigest('org/tool', 'stable', 1000));
    expect(failure.failure).toBe('unavailable');
    // Bounded by the 1 s asked for, not by the token request's own timeouts (30-60 s).
    expect(Date.now() - started).toBeLessThan(10_000);
    await client.close();
    silent.closeAllConnections();
    silent.close();
    registry.close();
    // A periodic round's signal lives long: retries pause on it and must not leave a listener each.
    const { server: closed, url: deadUrl } = await listen(() => undefined);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const retrying = upstream([deadUrl], undefined, { maxRetries: 3, retryDelayMs: 5, maxRetryDelayMs: 5 });
    const round = new AbortController();
    expect((await failureOf(retrying.tags('team/app', round.signal))).failure).toBe('unavailable');
    expect(getEventListeners(round.signal, 'abort')).toHaveLength(0);
    await retrying.close();
  });

  it('refuses a token service over plain HTTP for an upstream over HTTPS, reaches one on its host with its TLS settings, and always verifies one elsewhere', async () => {
    const dir = await scratchDir('sync-tls');
    const { certFile, keyFile } = await selfSignedCertificate(dir, 'upstream', '/CN=127.0.0.1', ['IP:127.0.0.1', 'IP:127.0.0.2']);
    const tls = { key: await readFile(keyFile), cert: await readFile(certFile) };
    const listenTls = async (handler: Parameters<typeof createHttpsServer>[1], host = '127.0.0.1') => {
      const server = createHttpsServer(tls, handler);
      await new Promise<void>((resolve) => server.listen(0, host, resolve));
      return { server, url: `https://${host}:${(server.address() as { port: number }).port}` };
    };
    const plainRealm: string[] = [];
    const { server: plain, url: plainUrl } = await listen((request, response) => {
      plainRealm.push(request.url!);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 't' }));
    });
    // The token service on HTTPS with the same private certificate as the upstream (trusted through certDir, here tls.ca).
    const { server: realm, url: realmUrl } = await listenTls((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'good-token' })));
    let realmFor = `${plainUrl}/token`;
    const { server: registry, url } = await listenTls((request, response) => {
      if (request.headers.authorization !== 'Bearer good-token') {
        response.writeHead(401, { 'www-authenticate': `Bearer realm="${realmFor}",service="upstream"` }).end();
        return;
      }
      response.writeHead(200, { 'docker-content-digest': openImage.digest, 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end();
    });
    const client = upstream([url], { host: hostOf(url), username: 'robot', password: 'robot-pass' }, { tls: { ca: tls.cert.toString('utf8') } });
    const refused = await failureOf(client.manifestDigest('team/app', 'v1', 5000));
    expect(refused.message).toContain('token service over http://');
    expect(plainRealm).toEqual([]);
    await client.close();
    realmFor = `${realmUrl}/token`;
    const trusting = upstream([url], { host: hostOf(url), username: 'robot', password: 'robot-pass' }, { tls: { ca: tls.cert.toString('utf8') } });
    expect(await trusting.manifestDigest('team/app', 'v1', 5000)).toBe(openImage.digest);
    await trusting.close();
    // A token service on another host (127.0.0.2 here, auth.docker.io for Docker Hub): certDir's CA is trusted there too...
    const { server: otherRealm, url: otherRealmUrl } = await listenTls(
      (_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'good-token' })),
      '127.0.0.2',
    );
    realmFor = `${otherRealmUrl}/token`;
    const elsewhere = upstream([url], { host: hostOf(url), username: 'robot', password: 'robot-pass' }, { tls: { ca: tls.cert.toString('utf8') } });
    expect(await elsewhere.manifestDigest('team/app', 'v1', 5000)).toBe(openImage.digest);
    await elsewhere.close();
    // ...but tlsVerify: false is the upstream's own: a token service elsewhere is still verified (the password goes there).
    const unverified = upstream([url], { host: hostOf(url), username: 'robot', password: 'robot-pass' }, { tlsVerify: false });
    const refusedElsewhere = await failureOf(unverified.manifestDigest('team/app', 'v1', 5000));
    expect(refusedElsewhere.failure).toBe('unavailable');
    await unverified.close();
    for (const server of [plain, realm, registry, otherRealm]) server.close();
  });
});
