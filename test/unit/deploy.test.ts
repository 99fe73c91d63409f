/**
 * deploy/: every YAML file parses; the zot.json in the ConfigMap loads with Berth's own loader, with
 * the secret files it names provided by the Deployment's volumes and shaped as the Secret examples
 * show; the objects point at each other (Service → pod port, HTTPRoute → Service, volumes →
 * ConfigMap, Secrets and PVC).
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadCookieKeys } from '../../src/auth/cookie-keys.js';
import { buildConfig } from '../../src/config/load-config.js';
import { TempDirs } from '../helpers/temp-dirs.js';

const DEPLOY = 'deploy';

// The manifests are data: read them loosely and let the assertions say what must be there.
type Manifest = Record<string, any>;

async function yamlFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && /\.ya?ml$/.test(entry.name))
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort();
}

async function parse(file: string): Promise<Manifest[]> {
  const documents = parseAllDocuments(await readFile(file, 'utf8'));
  if (!Array.isArray(documents)) return [];
  for (const document of documents) {
    expect(
      document.errors.map((error) => error.message),
      file,
    ).toEqual([]);
  }
  return documents.map((document) => document.toJS() as Manifest).filter((value) => value !== null);
}

async function manifests(file: string): Promise<Manifest[]> {
  return parse(path.join(DEPLOY, file));
}

async function one(file: string, kind: string): Promise<Manifest> {
  const found = (await manifests(file)).filter((manifest) => manifest.kind === kind);
  expect(found, `${file} holds one ${kind}`).toHaveLength(1);
  return found[0]!;
}

/** Every file a volume mount puts into the container: absolute path → where it comes from. */
function projectedFiles(deployment: Manifest): Map<string, { kind: 'configMap' | 'secret'; name: string; key: string }> {
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const files = new Map<string, { kind: 'configMap' | 'secret'; name: string; key: string }>();
  for (const mount of container.volumeMounts as Manifest[]) {
    expect(mount.subPath, `${mount.name} is mounted whole, so Kubernetes updates it in place`).toBeUndefined();
    const volume = (pod.volumes as Manifest[]).find((candidate) => candidate.name === mount.name);
    expect(volume, `volume ${mount.name}`).toBeDefined();
    const sources: Manifest[] = volume!.projected?.sources ?? [volume];
    for (const source of sources) {
      for (const kind of ['configMap', 'secret'] as const) {
        const ref = source[kind];
        if (!ref) continue;
        const name = ref.name ?? ref.secretName;
        for (const item of ref.items ?? []) files.set(path.posix.join(mount.mountPath, item.path), { kind, name, key: item.key });
      }
    }
  }
  return files;
}

function mountPathOf(deployment: Manifest, claimName: string): string | undefined {
  const pod = deployment.spec.template.spec;
  const volume = (pod.volumes as Manifest[]).find((candidate) => candidate.persistentVolumeClaim?.claimName === claimName);
  return (pod.containers[0].volumeMounts as Manifest[]).find((mount) => mount.name === volume?.name)?.mountPath;
}

describe('deploy/', async () => {
  const temp = new TempDirs();
  afterAll(() => temp.removeAll());
  const files = await yamlFiles(DEPLOY);

  it('has the manifests of the homelab story', () => {
    const names = files.map((file) => path.relative(DEPLOY, file));
    for (const expected of [
      'namespace.yaml',
      'pvc.yaml',
      'configmap.yaml',
      'deployment.yaml',
      'service.yaml',
      'httproute.yaml',
      'kustomization.yaml',
      'flux-kustomization.yaml',
      'secrets/berth.example.yaml',
    ]) {
      expect(names).toContain(expected);
    }
    expect(existsSync(path.join(DEPLOY, 'README.md'))).toBe(true);
  });

  it.each(files)('%s parses, and every document has an apiVersion and a kind', async (file) => {
    const documents = await parse(file);
    expect(documents.length).toBeGreaterThan(0);
    for (const document of documents) {
      expect(typeof document.apiVersion, file).toBe('string');
      expect(typeof document.kind, file).toBe('string');
    }
  });

  it('kustomization.yaml lists files that exist, never a Secret example', async () => {
    const kustomization = await one('kustomization.yaml', 'Kustomization');
    expect(kustomization.apiVersion).toBe('kustomize.config.k8s.io/v1beta1');
    expect(kustomization.namespace).toBe('berth');
    for (const resource of kustomization.resources as string[]) {
      expect(existsSync(path.join(DEPLOY, resource)), resource).toBe(true);
      expect(resource).not.toMatch(/example/);
    }
    expect(kustomization.resources).not.toContain('flux-kustomization.yaml');
    const text = await readFile(path.join(DEPLOY, 'kustomization.yaml'), 'utf8');
    expect(text, 'tells where the SOPS-encrypted Secrets go').toMatch(/#\s*- secrets\/berth\.sops\.yaml/);
  });

  it('the Flux Kustomization applies this folder and decrypts SOPS', async () => {
    const flux = await one('flux-kustomization.yaml', 'Kustomization');
    expect(flux.apiVersion).toBe('kustomize.toolkit.fluxcd.io/v1');
    expect(flux.spec).toMatchObject({ path: './deploy', prune: true, sourceRef: { kind: 'GitRepository' }, decryption: { provider: 'sops' } });
  });

  it('the Deployment runs one non-root replica with a read-only root and the health probes', async () => {
    const deployment = await one('deployment.yaml', 'Deployment');
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy.type).toBe('Recreate');
    const pod = deployment.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    const container = pod.containers[0];
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(container.args).toEqual(['serve', '/etc/berth/zot.json']);
    expect(container.resources.requests).toBeDefined();
    expect(container.resources.limits.memory).toBeDefined();
    const port = (container.ports as Manifest[]).find((candidate) => candidate.containerPort === 5000);
    expect(port).toBeDefined();
    const probes = { startupProbe: '/startupz', livenessProbe: '/livez', readinessProbe: '/readyz' };
    for (const [probe, probePath] of Object.entries(probes)) {
      expect(container[probe].httpGet.path, probe).toBe(probePath);
      expect([port!.name, 5000], probe).toContain(container[probe].httpGet.port);
    }
    expect(mountPathOf(deployment, 'berth-storage')).toBe('/var/lib/berth');
    expect(
      (container.volumeMounts as Manifest[]).map((mount) => mount.mountPath),
      'a writable /tmp for a read-only root',
    ).toContain('/tmp');
    expect(pod.terminationGracePeriodSeconds, 'longer than Berth’s 30 s drain').toBeGreaterThan(30);
  });

  it('the Service, the HTTPRoute and the PVC match the Deployment', async () => {
    const deployment = await one('deployment.yaml', 'Deployment');
    const service = await one('service.yaml', 'Service');
    const route = await one('httproute.yaml', 'HTTPRoute');
    const claim = await one('pvc.yaml', 'PersistentVolumeClaim');
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    const containerPort = (deployment.spec.template.spec.containers[0].ports as Manifest[]).find(
      (port) => port.name === service.spec.ports[0].targetPort || port.containerPort === service.spec.ports[0].targetPort,
    );
    expect(containerPort?.containerPort).toBe(5000);
    expect(route.apiVersion).toBe('gateway.networking.k8s.io/v1');
    expect(route.spec.hostnames).toEqual(['oci.example.org']);
    expect(route.spec.parentRefs[0]).toMatchObject({ kind: 'Gateway' });
    expect(route.spec.parentRefs[0].namespace, 'a shared Gateway lives in another namespace').toBeDefined();
    expect(route.spec.rules[0].backendRefs).toEqual([{ name: service.metadata.name, port: service.spec.ports[0].port }]);
    expect(claim.metadata.name).toBe('berth-storage');
    expect(claim.spec.accessModes).toEqual(['ReadWriteOnce']);
    for (const manifest of [deployment, service, route, claim]) expect(manifest.metadata.namespace).toBe('berth');
  });

  it('the Secret examples are placeholders, not applied, and name what the Deployment mounts', async () => {
    const secrets = await manifests('secrets/berth.example.yaml');
    expect(secrets.every((secret) => secret.kind === 'Secret')).toBe(true);
    const text = await readFile(path.join(DEPLOY, 'secrets/berth.example.yaml'), 'utf8');
    expect(text).toMatch(/EXAMPLE ONLY/);
    expect(text).toMatch(/sops --encrypt/);
    for (const secret of secrets) {
      for (const value of Object.values(secret.stringData as Record<string, string>)) expect(value).toMatch(/REPLACE/);
    }
    const deployment = await one('deployment.yaml', 'Deployment');
    for (const [file, source] of projectedFiles(deployment)) {
      if (source.kind !== 'secret') continue;
      const secret = secrets.find((candidate) => candidate.metadata.name === source.name);
      expect(secret, `${file} comes from Secret ${source.name}`).toBeDefined();
      expect(Object.keys(secret!.stringData), `${file} comes from key ${source.key}`).toContain(source.key);
    }
  });

  it("the ConfigMap's zot.json loads with Berth's loader, its secret files mounted and shaped as the examples", async () => {
    const configMap = await one('configmap.yaml', 'ConfigMap');
    const document = JSON.parse(configMap.data['zot.json']) as Manifest;
    expect(document.http).toMatchObject({ address: '0.0.0.0', port: 5000, externalUrl: 'https://oci.example.org' });
    const provider = document.http.auth.openid.providers.oidc;
    expect(provider).toMatchObject({
      name: 'Pocket ID',
      issuer: 'https://auth.example.org',
      scopes: ['openid', 'profile', 'email', 'groups'],
      claimMapping: { username: 'preferred_username', groups: 'groups' },
    });
    expect(document.extensions).toMatchObject({ ui: { enable: true }, metrics: { prometheus: { path: '/metrics' } } });

    // Each file zot.json names is one the pod has; write the example Secret's content there.
    const deployment = await one('deployment.yaml', 'Deployment');
    const mounted = projectedFiles(deployment);
    expect(mounted.get('/etc/berth/zot.json')).toEqual({ kind: 'configMap', name: configMap.metadata.name, key: 'zot.json' });
    const secrets = await manifests('secrets/berth.example.yaml');
    const root = await temp.make('deploy');
    const local = async (podPath: string): Promise<string> => {
      const source = mounted.get(podPath);
      expect(source, `${podPath} is mounted into the pod`).toBeDefined();
      const secret = secrets.find((candidate) => candidate.metadata.name === source!.name);
      const file = path.join(root, podPath);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, secret!.stringData[source!.key]);
      return file;
    };
    const sessionKeys = await local(document.http.auth.sessionKeysFile);
    document.http.auth.sessionKeysFile = sessionKeys;
    provider.credentialsFile = await local(provider.credentialsFile);
    document.http.auth.htpasswd.path = await local(document.http.auth.htpasswd.path);
    expect(document.storage.rootDirectory).toBe(mountPathOf(deployment, 'berth-storage'));
    document.storage.rootDirectory = path.join(root, 'storage');

    const config = buildConfig(document, 'deploy/configmap.yaml#zot.json');
    expect(config.warnings).toEqual([]);
    expect(config.http.auth.openid?.providers).toEqual([expect.objectContaining({ key: 'oidc', clientId: 'REPLACE-WITH-THE-POCKET-ID-CLIENT-ID' })]);
    expect(config.http.auth.apikey).toBe(true);
    expect(config.extensions.ui).toBe(true);
    // The session keys example has the shape and length Berth requires.
    expect((await loadCookieKeys(sessionKeys)).persistent).toBe(true);
    // The robots named in accessControl are htpasswd users of the example.
    const htpasswd = await readFile(document.http.auth.htpasswd.path, 'utf8');
    const users = htpasswd
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(':')[0]);
    for (const group of Object.values(document.http.accessControl.groups as Record<string, { users: string[] }>)) {
      for (const user of group.users) expect(users).toContain(user);
    }
    for (const user of document.http.accessControl.metrics.users as string[]) expect(users).toContain(user);
  });

  it('the README walks through Pocket ID, SOPS, Flux and a first push', async () => {
    const readme = await readFile(path.join(DEPLOY, 'README.md'), 'utf8');
    for (const needle of [
      'https://oci.example.org/zot/auth/callback/oidc',
      'Logout Callback URL',
      'openid profile email groups',
      'PKCE',
      'admins',
      'sops --encrypt',
      'flux reconcile',
      'podman login',
      'skopeo copy',
      'TRUST_PROXY',
      'externalUrl',
    ]) {
      expect(readme).toContain(needle);
    }
  });
});
