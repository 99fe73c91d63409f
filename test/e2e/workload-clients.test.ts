/**
 * Real clients in Docker's token flow against a Berth with http.auth.bearer: skopeo (`--creds
 * ci:<ID token>`), podman login + pull + push, docker (a private dockerd) login + pull + push and
 * containerd's ctr (test/helpers/docker.ts, containerd.ts), each with a workload ID token from the loopback test issuer; and under the same
 * Bearer challenge an htpasswd robot (docker) and an API key (skopeo) as before. The realm here is
 * left to its default (the request's own /zot/auth/token). A token for another audience is refused
 * at login.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { TempDirs } from '../helpers/temp-dirs.js';
import { containerTools } from '../helpers/container-tools.js';
import { startContainerd, type Containerd } from '../helpers/containerd.js';
import { startDocker, type Docker } from '../helpers/docker.js';
import { skopeo } from '../helpers/skopeo.js';
import { buildImage, writeOciLayout, type WrittenLayout } from '../helpers/oci-layout.js';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { githubActionsClaims, serviceAccountClaims, startWorkloadIssuer, type WorkloadIssuer } from '../helpers/workload-issuer.js';

const dirs = new TempDirs();
let berth: TestServer;
let issuer: WorkloadIssuer;
let layout: WrittenLayout;
let audit: string;
const ADMIN = { authorization: basicAuth('admin', 'admin-pw') };
const copyArgs = ['copy', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false'];

beforeAll(async () => {
  issuer = await startWorkloadIssuer();
  audit = `${await dirs.make('wl-audit')}/audit.log`;
  berth = await startBerth({
    config: {
      log: { audit },
      http: {
        auth: {
          htpasswd: { path: await writeHtpasswd({ admin: 'admin-pw', robot: 'robot-pw' }) },
          apikey: true,
          bearer: { oidc: [{ issuer: issuer.issuer, audiences: ['berth'], claimMapping: { groups: "has(claims.repository_owner) ? ['gh:' + claims.repository_owner] : []" } }] },
        },
        accessControl: {
          repositories: {
            'ci/**': {
              policies: [
                { groups: ['gh:acme'], actions: ['read', 'create'] },
                { users: ['robot'], actions: ['read', 'create'] },
                { users: [`${issuer.issuer}/system:serviceaccount:flux-system:source-controller`], actions: ['read'] },
              ],
            },
          },
          adminPolicy: { users: ['admin'], actions: ['read', 'create', 'update', 'delete'] },
        },
      },
    },
  });
  layout = await writeOciLayout(await dirs.make('wl-source'), { app: await buildImage({ layers: 2, label: 'workload' }) });
});
afterAll(async () => {
  await berth?.close();
  await issuer?.close();
  await dirs.removeAll();
});

const ciToken = () => issuer.sign(githubActionsClaims('acme/app', 'berth'));
const target = (reference: string) => `docker://${berth.host}/${reference}`;
/** Registry tokens issued so far, by how the caller proved who it is: the clients did go through the token flow. */
async function tokensIssued(via: string): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 100));
  const text = await readFile(audit, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { event: string; outcome: string; via: string })
    .filter((line) => line.event === 'token' && line.outcome === 'ok' && line.via === via).length;
}
const tagged = async (repository: string, tag: string) => (await fetch(`${berth.url}/v2/${repository}/manifests/${tag}`, { method: 'HEAD', headers: ADMIN })).status;

describe('workload ID tokens with real clients', () => {
  it('skopeo pushes and reads with --creds ci:<ID token>; an API key still works under the Bearer challenge', async () => {
    const before = { workload: await tokensIssued('workload'), apikey: await tokensIssued('apikey') };
    const id = await ciToken();
    await skopeo([...copyArgs, '--dest-creds', `ci:${id}`, layout.reference('app'), target('ci/app:v1')]);
    const read = await skopeo(['inspect', '--tls-verify=false', '--creds', `ci:${id}`, '--format', '{{.Digest}}', target('ci/app:v1')]);
    expect(read.stdout.trim()).toBe(layout.tags.app);
    const flux = await issuer.sign(serviceAccountClaims('flux-system', 'source-controller', 'berth'));
    await expect(skopeo([...copyArgs, '--dest-creds', `flux:${flux}`, layout.reference('app'), target('ci/flux:v1')])).rejects.toThrow(/denied|403|unauthorized/i);
    const created = await fetch(`${berth.url}/zot/auth/apikey`, {
      method: 'POST',
      headers: { authorization: basicAuth('robot', 'robot-pw'), 'content-type': 'application/json' },
      body: '{"label":"skopeo"}',
    });
    const { apiKey } = (await created.json()) as { apiKey: string };
    await skopeo([...copyArgs, '--dest-creds', `robot:${apiKey}`, layout.reference('app'), target('ci/keyed:v1')]);
    expect(await tagged('ci/keyed', 'v1')).toBe(200);
    expect(await tokensIssued('workload')).toBeGreaterThan(before.workload);
    expect(await tokensIssued('apikey')).toBeGreaterThan(before.apikey);
  });

  it('podman logs in with an ID token, pulls and pushes; a token for another audience is refused', async () => {
    await skopeo([...copyArgs, '--dest-creds', 'admin:admin-pw', layout.reference('app'), target('ci/base:v1')]);
    const tools = await containerTools(await dirs.make('wl-podman'), berth.host);
    const authfile = `${await dirs.make('wl-podman-auth')}/auth.json`;
    const wrong = await issuer.sign(githubActionsClaims('acme/app', 'someone-else'));
    await expect(tools.podman(['login', '--tls-verify=false', '--authfile', authfile, '--username', 'ci', '--password', wrong, berth.host])).rejects.toThrow(/401|unauthorized|invalid/i);
    const before = await tokensIssued('workload');
    await tools.podman(['login', '--tls-verify=false', '--authfile', authfile, '--username', 'ci', '--password', await ciToken(), berth.host]);
    await tools.podman(['pull', '--tls-verify=false', '--authfile', authfile, `${berth.host}/ci/base:v1`]);
    await tools.podman(['tag', `${berth.host}/ci/base:v1`, `${berth.host}/ci/podman:v1`]);
    await tools.podman(['push', '--tls-verify=false', '--authfile', authfile, `${berth.host}/ci/podman:v1`]);
    expect(await tagged('ci/podman', 'v1')).toBe(200);
    expect(await tokensIssued('workload')).toBeGreaterThan(before);
  });
});

describe('docker (a private dockerd)', () => {
  let dockerd: Docker;
  beforeAll(async () => {
    dockerd = await startDocker(await dirs.make('wl-dockerd'));
  }, 60_000);
  afterAll(async () => dockerd?.stop(), 30_000);

  it('logs in with -u ci -p <ID token>, pulls and pushes; an htpasswd robot keeps working', async () => {
    const docker = (args: string[], timeoutMs?: number) => dockerd.docker(args, timeoutMs === undefined ? {} : { timeoutMs });
    await skopeo([...copyArgs, '--dest-creds', 'admin:admin-pw', layout.reference('app'), target('ci/docker-base:v1')]);
    const wrong = await issuer.sign(githubActionsClaims('acme/app', 'berth'), { expiresIn: -600 });
    await expect(dockerd.login(berth.host, 'ci', wrong)).rejects.toThrow(/401|unauthorized/i);
    const before = { workload: await tokensIssued('workload'), htpasswd: await tokensIssued('htpasswd') };
    await dockerd.login(berth.host, 'ci', await ciToken());
    await docker(['pull', `${berth.host}/ci/docker-base:v1`], 60_000);
    await docker(['tag', `${berth.host}/ci/docker-base:v1`, `${berth.host}/ci/docker:v1`]);
    await docker(['push', `${berth.host}/ci/docker:v1`], 60_000);
    expect(await tagged('ci/docker', 'v1')).toBe(200);
    await docker(['logout', berth.host]);
    await dockerd.login(berth.host, 'robot', 'robot-pw');
    await docker(['tag', `${berth.host}/ci/docker-base:v1`, `${berth.host}/ci/robot:v1`]);
    await docker(['push', `${berth.host}/ci/robot:v1`], 60_000);
    expect(await tagged('ci/robot', 'v1')).toBe(200);
    expect(await tokensIssued('workload')).toBeGreaterThan(before.workload);
    expect(await tokensIssued('htpasswd')).toBeGreaterThan(before.htpasswd);
  }, 180_000);
});

describe('containerd (ctr)', () => {
  let containerd: Containerd;
  beforeAll(async () => {
    containerd = await startContainerd(await dirs.make('wl-ctd'));
    await containerd.trustPlainHttp(berth.host);
  });
  afterAll(async () => containerd?.stop());

  it('pulls and pushes with --user ci:<ID token>', async () => {
    await skopeo([...copyArgs, '--dest-creds', 'admin:admin-pw', layout.reference('app'), target('ci/ctr-base:v1')]);
    const before = await tokensIssued('workload');
    const user = `ci:${await ciToken()}`;
    const ref = `${berth.host}/ci/ctr-base:v1`;
    await containerd.ctr(['images', 'pull', '--hosts-dir', containerd.hostsDir, '--snapshotter', 'native', '--user', user, ref]);
    await containerd.ctr(['images', 'push', '--hosts-dir', containerd.hostsDir, '--user', user, `${berth.host}/ci/ctr:v1`, ref]);
    expect(await tagged('ci/ctr', 'v1')).toBe(200);
    expect(await tokensIssued('workload')).toBeGreaterThan(before);
    await expect(containerd.ctr(['images', 'pull', '--hosts-dir', containerd.hostsDir, '--snapshotter', 'native', '--user', 'ci:not-a-token', ref])).rejects.toThrow(/401|unauthorized/i);
  });
});
