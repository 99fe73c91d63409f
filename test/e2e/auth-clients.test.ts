/**
 * Robots and access control with real clients: skopeo with --dest-creds / --src-creds, podman
 * login + push, docker login + build + push + pull + logout. A robot with `create` pushes; a user without it is refused; anonymous pulls work only
 * where anonymousPolicy allows.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { TempDirs } from '../helpers/temp-dirs.js';
import { containerTools } from '../helpers/container-tools.js';
import { startDocker } from '../helpers/docker.js';
import { skopeo } from '../helpers/skopeo.js';
import { buildImage, writeOciLayout, type WrittenLayout } from '../helpers/oci-layout.js';
import { writeHtpasswd } from '../helpers/htpasswd.js';

const dirs = new TempDirs();
const testDirs = new TempDirs();
let berth: TestServer;
let layout: WrittenLayout;
const ROBOT = 'buildbot:robot-secret';
const READER = 'reader:reader-secret';

beforeAll(async () => {
  const htpasswd = await writeHtpasswd({ buildbot: 'robot-secret', reader: 'reader-secret' });
  berth = await startBerth({
    config: {
      http: {
        auth: { htpasswd: { path: htpasswd } },
        accessControl: {
          repositories: {
            '**': { defaultPolicy: ['read'] },
            'public/**': { defaultPolicy: ['read'], anonymousPolicy: ['read'], policies: [{ users: ['buildbot'], actions: ['read', 'create'] }] },
            'ci/**': { policies: [{ users: ['buildbot'], actions: ['read', 'create'] }], defaultPolicy: ['read'] },
          },
        },
      },
    },
  });
  layout = await writeOciLayout(await dirs.make('auth-source'), { app: await buildImage({ layers: 2, label: 'auth' }) });
});
afterEach(() => testDirs.removeAll());
afterAll(async () => {
  await berth?.close();
  await dirs.removeAll();
});

const copyArgs = ['copy', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false'];
const target = (repo: string) => `docker://${berth.host}/${repo}`;

describe('skopeo with credentials', () => {
  it('a robot with create pushes; its pushes are readable by signed-in users and, in public/, by anyone', async () => {
    await skopeo([...copyArgs, '--dest-creds', ROBOT, layout.reference('app'), target('ci/app:v1')]);
    await skopeo([...copyArgs, '--dest-creds', ROBOT, layout.reference('app'), target('public/app:v1')]);
    const digest = layout.tags.app!;
    const asReader = await skopeo(['inspect', '--tls-verify=false', '--creds', READER, '--format', '{{.Digest}}', target('ci/app:v1')]);
    expect(asReader.stdout.trim()).toBe(digest);
    const anonymousPublic = await skopeo(['inspect', '--tls-verify=false', '--no-creds', '--format', '{{.Digest}}', target('public/app:v1')]);
    expect(anonymousPublic.stdout.trim()).toBe(digest);
  });

  it('a user without create is refused', async () => {
    await expect(skopeo([...copyArgs, '--dest-creds', READER, layout.reference('app'), target('ci/denied:v1')])).rejects.toThrow(/denied|403/i);
    const tags = await fetch(`${berth.url}/v2/ci/denied/tags/list`, { headers: { authorization: `Basic ${Buffer.from(READER).toString('base64')}` } });
    expect(tags.status).toBe(404);
  });

  it('a wrong password and anonymous access to ci/ are refused', async () => {
    await expect(skopeo([...copyArgs, '--dest-creds', 'buildbot:wrong', layout.reference('app'), target('ci/wrong:v1')])).rejects.toThrow(/unauthorized|401/i);
    await expect(skopeo(['inspect', '--tls-verify=false', '--no-creds', target('ci/app:v1')])).rejects.toThrow(/unauthorized|401|authentication required/i);
  });
});

describe('podman login', () => {
  it('logs in, pushes with the stored credentials, and is refused after logout', async () => {
    const dir = await testDirs.make('auth-podman');
    const tools = await containerTools(dir, berth.host);
    const authfile = path.join(dir, 'auth.json');
    await tools.podman(['pull', layout.reference('app')]);
    const local = `${berth.host}/ci/podman:v1`;
    const pulled = (await tools.podman(['images', '--format', '{{.ID}}'])).stdout.trim().split('\n')[0]!;
    await tools.podman(['tag', pulled, local]);
    await expect(tools.podman(['login', '--tls-verify=false', '--authfile', authfile, '--username', 'buildbot', '--password', 'wrong', berth.host])).rejects.toThrow(/401|unauthorized|invalid/i);
    await tools.podman(['login', '--tls-verify=false', '--authfile', authfile, '--username', 'buildbot', '--password', 'robot-secret', berth.host]);
    await tools.podman(['push', '--tls-verify=false', '--authfile', authfile, local]);
    const manifest = await fetch(`${berth.url}/v2/ci/podman/manifests/v1`, { method: 'HEAD', headers: { authorization: `Basic ${Buffer.from(READER).toString('base64')}` } });
    expect(manifest.status).toBe(200);
    await tools.podman(['logout', '--authfile', authfile, berth.host]);
    await tools.podman(['tag', pulled, `${berth.host}/ci/podman:v2`]);
    await expect(tools.podman(['push', '--tls-verify=false', '--authfile', authfile, `${berth.host}/ci/podman:v2`])).rejects.toThrow(/401|unauthorized|authentication required/i);
  });
});

describe('docker login', () => {
  it('logs in, builds from scratch, pushes, pulls back, and is refused after logout', async () => {
    const dir = await testDirs.make('auth-docker');
    const dockerd = await startDocker(await testDirs.make('auth-dockerd'));
    try {
      const context = path.join(dir, 'context');
      await mkdir(context);
      await writeFile(path.join(context, 'hello.txt'), 'hello from docker build\n');
      await writeFile(path.join(context, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\nLABEL org.opencontainers.image.source=https://example.org/berth\n');
      const local = `${berth.host}/ci/docker:v1`;
      await dockerd.docker(['build', '--tag', local, context], { timeoutMs: 120_000 });
      await expect(dockerd.login(berth.host, 'buildbot', 'wrong')).rejects.toThrow(/401|unauthorized/i);
      await dockerd.login(berth.host, 'buildbot', 'robot-secret');
      const pushed = (await dockerd.docker(['push', local], { timeoutMs: 120_000 })).stdout;
      const digest = /digest: (sha256:[a-f0-9]{64})/.exec(pushed)?.[1];
      expect(digest).toBeDefined();
      const stored = await fetch(`${berth.url}/v2/ci/docker/manifests/v1`, {
        method: 'HEAD',
        headers: { authorization: `Basic ${Buffer.from(READER).toString('base64')}`, accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
      });
      expect(stored.status).toBe(200);
      expect(stored.headers.get('docker-content-digest')).toBe(digest);
      await dockerd.docker(['rmi', local]);
      await dockerd.docker(['pull', local], { timeoutMs: 120_000 });
      const repoDigests = JSON.parse((await dockerd.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', local])).stdout) as string[];
      expect(repoDigests).toContain(`${berth.host}/ci/docker@${digest}`);
      await dockerd.docker(['logout', berth.host]);
      await dockerd.docker(['tag', local, `${berth.host}/ci/docker:v2`]);
      // docker asks Berth, hears 401 with a Basic challenge, and has no credentials left to give.
      await expect(dockerd.docker(['push', `${berth.host}/ci/docker:v2`], { timeoutMs: 60_000 })).rejects.toThrow(/no basic auth credentials|unauthorized|401/i);
      expect((await fetch(`${berth.url}/v2/ci/docker/manifests/v2`, { method: 'HEAD', headers: { authorization: `Basic ${Buffer.from(READER).toString('base64')}` } })).status).toBe(404);
    } finally {
      await dockerd.stop();
    }
  }, 240_000);
});
