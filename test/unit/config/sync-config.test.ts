/**
 * zot's `extensions.sync` read into Berth's shape: defaults, durations, credentials by host (Docker
 * Hub's aliases share one entry), certDir's files, content rules compiled, and what is refused or
 * warned about by name — never a password in a message.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/load-config.js';
import { configProblems as problems } from '../../helpers/config-problems.js';
import { TempDirs } from '../../helpers/temp-dirs.js';

const temp = new TempDirs();
afterAll(() => temp.removeAll());
const withSync = (sync: unknown) => ({ storage: { rootDirectory: '/x' }, extensions: { sync } });

describe('extensions.sync', () => {
  it('reads an on-demand Docker Hub cache with credentials, and a periodic mirror with content rules and certDir', async () => {
    const dir = await temp.make('sync-config');
    const credentialsFile = path.join(dir, 'credentials.json');
    await writeFile(credentialsFile, JSON.stringify({ 'docker.io': { username: 'hubuser', password: 'hub-secret-1' }, 'registry.example:5000': { username: 'ci', password: 'reg-secret-2' } }));
    const certDir = path.join(dir, 'certs');
    await mkdir(certDir);
    await writeFile(path.join(certDir, 'ca.crt'), 'CA PEM');
    await writeFile(path.join(certDir, 'client.cert'), 'CERT PEM');
    await writeFile(path.join(certDir, 'client.key'), 'KEY PEM');
    const config = buildConfig(
      withSync({
        enable: true,
        credentialsFile,
        registries: [
          { urls: ['https://registry-1.docker.io'], onDemand: true, tlsVerify: true, maxRetries: 5, retryDelay: '1s', maxRetryDelay: '30s', syncTimeout: '10m' },
          {
            URLs: ['https://registry.example:5000'],
            PollInterval: '6h',
            certDir,
            content: [{ prefix: '/team/**', destination: '/mirror', stripPrefix: true, tags: { regex: '^v', excludeRegex: '-rc', semver: true } }],
            platforms: ['linux/amd64', 'arm64', 'linux/arm/v7'],
          },
        ],
      }),
      'f.json',
    );
    const [hub, mirror] = config.extensions.sync!.registries;
    expect(hub).toMatchObject({ urls: ['https://registry-1.docker.io'], onDemand: true, manifestCheckIntervalMs: 300_000, maxRetries: 5, retryDelayMs: 1000, maxRetryDelayMs: 30_000, syncTimeoutMs: 600_000, tlsVerify: true, content: [] });
    expect(hub!.pollIntervalMs).toBeUndefined();
    expect(hub!.credentials.get('registry-1.docker.io')).toEqual({ username: 'hubuser', password: 'hub-secret-1' });
    expect(mirror).toMatchObject({ urls: ['https://registry.example:5000'], onDemand: false, pollIntervalMs: 6 * 3_600_000, tls: { ca: 'CA PEM', cert: 'CERT PEM', key: 'KEY PEM' } });
    expect(config.warnings).toEqual([expect.stringMatching(/registries\/1\/platforms: has no effect in Berth, which mirrors every platform/)]);
    expect(mirror!.credentials.get('registry.example:5000')).toEqual({ username: 'ci', password: 'reg-secret-2' });
    const [rule] = mirror!.content;
    expect(rule).toMatchObject({ prefix: 'team/**', destination: 'mirror', stripPrefix: true });
    expect(rule!.matches('team/a/b')).toBe(true);
    expect(rule!.tags.regex!.test('v1.0')).toBe(true);
    expect(rule!.tags.excludeRegex!.test('v1.0-rc1')).toBe(true);
    expect(config.warnings.join('\n')).not.toMatch(/secret/);
  });

  it('is off when enable is false, and on (as in zot) when the section exists without it', () => {
    expect(buildConfig(withSync({ enable: false, registries: [{ urls: ['https://h'], onDemand: true }] }), 'f.json').extensions.sync).toBeUndefined();
    expect(buildConfig(withSync({ registries: [{ urls: ['https://h'], onDemand: true }] }), 'f.json').extensions.sync?.registries).toHaveLength(1);
  });

  it('refuses cloud credential helpers and request-rate tuning by name, and bad values with their JSON path', () => {
    const refused = problems(withSync({ registries: [{ urls: ['https://h'], onDemand: true, credentialHelper: 'ecr', reqPerSec: 10, disableHTTP2: true, maxIdleConnsPerHost: 4 }] }));
    expect(refused).toEqual([
      expect.stringMatching(/^f\.json: \/extensions\/sync\/registries\/0\/credentialHelper: not supported by Berth \(cloud credential helpers/),
      expect.stringMatching(/registries\/0\/reqPerSec: not supported by Berth/),
      expect.stringMatching(/registries\/0\/disableHTTP2: not supported by Berth/),
      expect.stringMatching(/registries\/0\/maxIdleConnsPerHost: not supported by Berth/),
    ]);
    expect(problems(withSync({ registries: [{ urls: ['https://h'], onDemand: true, content: [{ prefix: 'a', tags: { regex: '(' } }] }] }))).toEqual([expect.stringMatching(/registries\/0\/content\/0\/tags\/regex: not a regular expression/)]);
    expect(problems(withSync({ registries: [{ urls: ['https://h'], onDemand: true, maxRetries: 3 }] }))).toEqual([expect.stringMatching(/registries\/0\/retryDelay: is required with maxRetries/)]);
    expect(problems(withSync({ registries: [{ urls: ['https://h'], onDemand: true, retryDelay: '10s', maxRetryDelay: '1s' }] }))).toEqual([expect.stringMatching(/maxRetryDelay: must be at least retryDelay/)]);
    expect(problems(withSync({ registries: [{ urls: ['ftp://h'], onDemand: true }] }))).toEqual([expect.stringMatching(/urls\/0: an upstream is reached over https:\/\/ or http:\/\//)]);
    expect(problems(withSync({ registries: [{ urls: ['https://h'], pollInterval: '1h' }] }))).toEqual([expect.stringMatching(/registries\/0\/content: periodic sync \(pollInterval\) needs content rules/)]);
    expect(problems(withSync({ registries: [{ urls: ['https://h'], onDemand: true, certDir: '/nonexistent/certs' }] }))).toEqual([expect.stringMatching(/registries\/0\/certDir: cannot read the folder \/nonexistent\/certs/)]);
    expect(problems(withSync({ registries: [{ urls: ['https://h'], onDemand: true, bogus: 1 }] }))).toEqual([expect.stringMatching(/registries\/0\/bogus: is not a key zot or Berth knows/)]);
  });

  it('never repeats a secret: credentials in a URL, or a credentials file entry without a password', async () => {
    const leaked = problems(withSync({ registries: [{ urls: ['https://u:hunter2@h'], onDemand: true }] }));
    expect(leaked).toEqual([expect.stringMatching(/urls\/0: credentials in the URL; put them in credentialsFile/)]);
    expect(leaked.join()).not.toContain('hunter2');
    const dir = await temp.make('sync-credentials');
    const file = path.join(dir, 'c.json');
    await writeFile(file, JSON.stringify({ 'h:5000': { username: 'ci', secret: 'pw-not-here-9' } }));
    const bad = problems(withSync({ credentialsFile: file, registries: [{ urls: ['https://h:5000'], onDemand: true }] }));
    expect(bad).toEqual([expect.stringMatching(/credentialsFile: .*the entry for "h:5000" needs a string username and password/)]);
    expect(bad.join()).not.toContain('pw-not-here-9');
  });

  it('warns about what has no effect: staging and streaming keys, a URL path, tlsVerify false, an upstream used by nothing', () => {
    const config = buildConfig(withSync({ downloadDir: '/tmp/dl', enableStreaming: true, registries: [{ urls: ['https://docker.io/library'], onDemand: true, tlsVerify: false, stream: true }, { urls: ['https://h'] }] }), 'f.json');
    expect(config.warnings).toEqual([
      expect.stringMatching(/^f\.json: \/extensions\/sync\/downloadDir: has no effect in Berth/),
      expect.stringMatching(/\/extensions\/sync\/enableStreaming: has no effect in Berth, which always streams/),
      expect.stringMatching(/registries\/0\/stream: has no effect in Berth/),
      expect.stringMatching(/registries\/0\/urls\/0: the path of "https:\/\/docker.io\/library" is ignored/),
      expect.stringMatching(/registries\/0\/tlsVerify: false: the upstream's certificate is not checked/),
      expect.stringMatching(/registries\/1: neither onDemand nor pollInterval/),
    ]);
    expect(config.extensions.sync!.registries[0]!.urls).toEqual(['https://docker.io']);
  });
});
