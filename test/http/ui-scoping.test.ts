/**
 * Every read on behalf of a request is repository-scoped (CONVENTIONS habit 12): an identity that may
 * not read `secret/app` learns nothing of it through any UI page, `/api/ui` route or `/v2` route of a
 * repository it may write, whatever caches hold. The attacker pushes into `mallory/y` manifests that
 * name `secret/app`'s digests in every place a manifest can carry a digest (an image's stray
 * `manifests` array, a `subject`, annotations) and asks for those digests there.
 *
 * The table below is the list of routes: a new page or API route joins it with one line. Each row is
 * run cold (a fresh server over the same storage) and warm (after an admin opened every page of
 * `secret/app`), and no response body may hold any fact of `secret/app` that the request itself did
 * not name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { pushBlob } from '../helpers/registry-api.js';
import { signInWithPassword, type UiSession } from '../helpers/ui-session.js';
import { scratchDir } from '../helpers/scratch.js';
import { OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, sha256 } from '../helpers/oci.js';

const ADMIN = { authorization: basicAuth('root', 'root-pw') };
const MALLORY = { authorization: basicAuth('mallory', 'mallory-pw') };

interface Pushed {
  digest: string;
  size: number;
}

/** The facts of `secret/app` that must never reach mallory. */
const secret = {
  password: 'db-password-7c0ffee5',
  label: 'label-value-51e7',
  tag: 'prod-2f9a',
  indexTag: 'multi-8d1c',
  config: '',
  layer: '',
  manifest: '',
  index: '',
  child: '',
  referrer: '',
};

async function putManifest(repo: string, reference: string, document: object, headers: Record<string, string>, mediaType = OCI_MANIFEST): Promise<Response> {
  return fetch(`${berth.url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: JSON.stringify(document), headers: { ...headers, 'content-type': mediaType } });
}

async function pushManifest(repo: string, reference: string, document: object, headers: Record<string, string>, mediaType = OCI_MANIFEST): Promise<Pushed> {
  const response = await putManifest(repo, reference, document, headers, mediaType);
  if (response.status !== 201) throw new Error(`PUT ${repo}:${reference}: ${response.status} ${await response.text()}`);
  const bytes = Buffer.from(JSON.stringify(document));
  return { digest: sha256(bytes), size: bytes.length };
}

/** An image whose config carries `password` and `label`, with one layer; tagged `tag`. */
async function pushImageWith(
  repo: string,
  tag: string,
  headers: Record<string, string>,
  layerText: string,
  password: string,
  label: string,
): Promise<{ manifest: Pushed; config: string; configSize: number; layer: string }> {
  const layer = Buffer.from(layerText);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Env: [`DB_PASSWORD=${password}`], Labels: { 'org.example.secret': label } },
      rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
    }),
  );
  await pushBlob(berth.url, repo, config, headers);
  await pushBlob(berth.url, repo, layer, headers);
  const manifest = await pushManifest(
    repo,
    tag,
    {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: sha256(layer), size: layer.length }],
    },
    headers,
  );
  return { manifest, config: sha256(config), configSize: config.length, layer: sha256(layer) };
}

let berth: TestServer;
let admin: UiSession;
let mallory: UiSession;

/** What mallory asks. `as`: her browser session (UI routes) or Basic (registry clients). */
interface Row {
  path: () => string;
  as: 'session' | 'basic' | 'page';
}

const d = () => secret;
const ROUTES: Row[] = [
  { as: 'session', path: () => `/api/ui/image?repository=mallory/y&reference=${d().manifest}` },
  { as: 'session', path: () => `/api/ui/image?repository=mallory/y&reference=${d().index}` },
  { as: 'session', path: () => `/api/ui/image?repository=mallory/y&reference=${d().child}` },
  { as: 'session', path: () => `/api/ui/image?repository=mallory/y&reference=${d().config}` },
  { as: 'session', path: () => `/api/ui/image?repository=mallory/y&reference=stray` },
  { as: 'session', path: () => `/api/ui/image?repository=mallory/y&reference=subject` },
  { as: 'session', path: () => `/api/ui/image?repository=mallory/y&reference=own` },
  { as: 'session', path: () => `/api/ui/repository?repository=mallory/y` },
  { as: 'session', path: () => `/api/ui/repositories?perPage=200` },
  { as: 'session', path: () => `/api/ui/repositories?sort=pushed` },
  { as: 'session', path: () => `/api/ui/me` },
  { as: 'session', path: () => `/api/ui/image?repository=secret/app&reference=${d().manifest}` },
  { as: 'session', path: () => `/api/ui/repository?repository=secret/app` },
  { as: 'page', path: () => `/image?name=mallory/y&ref=${d().manifest}` },
  { as: 'page', path: () => `/image?name=mallory/y&ref=${d().index}` },
  { as: 'page', path: () => `/image?name=mallory/y&ref=stray` },
  { as: 'page', path: () => `/image?name=mallory/y&ref=subject` },
  { as: 'page', path: () => `/image?name=mallory/y&ref=own` },
  { as: 'page', path: () => `/repository?name=mallory/y` },
  { as: 'page', path: () => `/repositories` },
  { as: 'page', path: () => `/account` },
  { as: 'page', path: () => `/image?name=secret/app&ref=${d().manifest}` },
  { as: 'basic', path: () => `/v2/mallory/y/manifests/${d().manifest}` },
  { as: 'basic', path: () => `/v2/mallory/y/manifests/${d().child}` },
  { as: 'basic', path: () => `/v2/mallory/y/blobs/${d().config}` },
  { as: 'basic', path: () => `/v2/mallory/y/blobs/${d().layer}` },
  { as: 'basic', path: () => `/v2/mallory/y/referrers/${d().manifest}` },
  { as: 'basic', path: () => `/v2/mallory/y/tags/list` },
  { as: 'basic', path: () => `/v2/_catalog` },
  { as: 'basic', path: () => `/v2/secret/app/tags/list` },
  { as: 'basic', path: () => `/v2/secret/app/referrers/${d().manifest}` },
  { as: 'basic', path: () => `/metrics` },
];

/**
 * Facts of secret/app that the request did not name itself (a digest it asks for may be echoed in
 * an error). The manifest, index and child digests are not among them: mallory wrote those into her
 * own manifests, which may show what she wrote; what they lead to must stay hidden.
 */
function leaksIn(body: string, path: string): string[] {
  const facts = [secret.password, secret.label, secret.tag, secret.indexTag, secret.config, secret.layer, secret.referrer];
  return facts.filter((fact) => !path.includes(fact) && body.includes(fact));
}

async function ask(row: Row): Promise<{ status: number; body: string }> {
  const path = row.path();
  const response = row.as === 'session' ? await mallory.api(path) : row.as === 'page' ? await mallory.browse(path) : await fetch(`${berth.url}${path}`, { headers: MALLORY });
  return { status: response.status, body: await response.text() };
}

async function expectNoLeaks(): Promise<void> {
  const problems: string[] = [];
  for (const row of ROUTES) {
    const path = row.path();
    const { status, body } = await ask(row);
    const leaks = leaksIn(body, path);
    if (leaks.length > 0) problems.push(`${path} (${status}) shows ${leaks.join(', ')}`);
  }
  expect(problems).toEqual([]);
}

/** What an admin's browsing of every page of secret/app does to the caches. */
async function warmSecretCaches(): Promise<void> {
  for (const path of [
    '/repositories',
    '/repository?name=secret/app',
    `/image?name=secret/app&ref=${secret.tag}`,
    `/image?name=secret/app&ref=${secret.manifest}`,
    `/image?name=secret/app&ref=${secret.indexTag}`,
    `/image?name=secret/app&ref=${secret.child}`,
  ]) {
    expect((await admin.browse(path)).status, path).toBe(200);
  }
  expect((await admin.api(`/api/ui/image?repository=secret/app&reference=${secret.tag}`)).status).toBe(200);
  expect((await fetch(`${berth.url}/v2/secret/app/referrers/${secret.manifest}`, { headers: ADMIN })).status).toBe(200);
}

async function signIn(): Promise<void> {
  admin = await signInWithPassword(berth.url, 'root', 'root-pw');
  mallory = await signInWithPassword(berth.url, 'mallory', 'mallory-pw');
}

beforeAll(async () => {
  const htpasswd = await writeHtpasswd({ root: 'root-pw', mallory: 'mallory-pw' });
  const config = {
    extensions: { ui: { enable: true }, metrics: { enable: true } },
    http: {
      auth: { htpasswd: { path: htpasswd } },
      accessControl: {
        repositories: { 'mallory/**': { policies: [{ users: ['mallory'], actions: ['read', 'create', 'update', 'delete'] }] }, 'secret/**': { policies: [] } },
        adminPolicy: { users: ['root'], actions: ['read', 'create', 'update', 'delete'] },
      },
    },
  };
  const root = await scratchDir('scoping');
  const first = await startBerth({ config, root });
  berth = first;
  const image = await pushImageWith('secret/app', secret.tag, ADMIN, 'secret layer', secret.password, secret.label);
  Object.assign(secret, { manifest: image.manifest.digest, config: image.config, layer: image.layer });
  const child = await pushImageWith('secret/app', 'child-tmp', ADMIN, 'secret child layer', secret.password, secret.label);
  secret.child = child.manifest.digest;
  const index = await pushManifest(
    'secret/app',
    secret.indexTag,
    { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: child.manifest.digest, size: child.manifest.size, platform: { os: 'linux', architecture: 'arm64' } }] },
    ADMIN,
    OCI_INDEX,
  );
  secret.index = index.digest;
  expect((await fetch(`${berth.url}/v2/secret/app/manifests/child-tmp`, { method: 'DELETE', headers: ADMIN })).status).toBe(202);
  const empty = Buffer.from('{}');
  await pushBlob(berth.url, 'secret/app', empty, ADMIN);
  const referrer = await pushManifest(
    'secret/app',
    'signature',
    {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
      config: { mediaType: OCI_EMPTY, digest: sha256(empty), size: 2 },
      layers: [{ mediaType: OCI_EMPTY, digest: sha256(empty), size: 2 }],
      subject: { mediaType: OCI_MANIFEST, digest: image.manifest.digest, size: image.manifest.size },
    },
    ADMIN,
  );
  secret.referrer = referrer.digest;

  // Mallory's own, honest image, then manifests that name secret/app's digests where they can.
  const own = await pushImageWith('mallory/y', 'own', MALLORY, 'mallory layer', 'not-a-secret', 'mallory-label');
  const ownManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: own.config, size: own.configSize },
    layers: [{ mediaType: OCI_LAYER, digest: own.layer, size: 'mallory layer'.length }],
  };
  const stray = [
    { mediaType: OCI_MANIFEST, digest: secret.manifest, size: image.manifest.size, platform: { os: 'linux', architecture: 'amd64' } },
    { mediaType: OCI_INDEX, digest: secret.index, size: index.size },
    { mediaType: OCI_MANIFEST, digest: secret.child, size: child.manifest.size },
  ];
  await pushManifest('mallory/y', 'stray', { ...ownManifest, manifests: stray, annotations: { note: 'an image with a stray manifests array' } }, MALLORY);
  await pushManifest('mallory/y', 'subject', { ...ownManifest, subject: { mediaType: OCI_MANIFEST, digest: secret.manifest, size: image.manifest.size } }, MALLORY);
  // An index naming secret/app's manifests is refused at push: the repository does not hold them.
  const index2 = await putManifest('mallory/y', 'index', { schemaVersion: 2, mediaType: OCI_INDEX, manifests: stray }, MALLORY, OCI_INDEX);
  expect(index2.status).toBe(400);
  await berth.close();
  // Cold: a fresh server over the same storage, nothing cached but what mallory's own reads bring.
  berth = await startBerth({ config, root });
  await signIn();
}, 120_000);

afterAll(async () => {
  await berth?.close();
});

describe('an identity that may not read secret/app', () => {
  it('is refused secret/app itself', async () => {
    expect((await mallory.api(`/api/ui/image?repository=secret/app&reference=${secret.tag}`)).status).toBe(403);
    expect((await fetch(`${berth.url}/v2/secret/app/manifests/${secret.manifest}`, { headers: MALLORY })).status).toBe(403);
  });

  it('learns nothing of it through any route, cold caches', async () => {
    await expectNoLeaks();
  });

  it('learns nothing of it through any route after an admin browsed it (warm caches)', async () => {
    await warmSecretCaches();
    await expectNoLeaks();
  });

  it('finds the secret digests unknown in its own repository', async () => {
    for (const digest of [secret.manifest, secret.index, secret.child, secret.config]) {
      const response = await mallory.api(`/api/ui/image?repository=mallory/y&reference=${digest}`);
      expect(response.status, digest).toBe(404);
      expect(((await response.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('MANIFEST_UNKNOWN');
    }
  });

  it('sees an image with a stray manifests array as the image it is (no children)', async () => {
    const detail = (await (await mallory.api('/api/ui/image?repository=mallory/y&reference=stray')).json()) as { kind: string; children: unknown[]; config?: { digest: string } };
    expect(detail.kind).toBe('image');
    expect(detail.children).toEqual([]);
  });
});
