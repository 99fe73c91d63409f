import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir } from '../../helpers/scratch.js';
import { ConfigError } from '../../../src/config/config.js';
import { buildConfig, loadConfig } from '../../../src/config/load-config.js';
import { parseDuration } from '../../../src/config/duration.js';

async function problemsOf(text: string): Promise<string[]> {
  const dir = await scratchDir('config');
  const file = path.join(dir, 'zot.json');
  await writeFile(file, text);
  try {
    await loadConfig(file);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('loadConfig', () => {
  it('loads every example in config/', async () => {
    const files = (await readdir('config')).filter((file) => file.endsWith('.json'));
    expect(files).toContain('zot.json');
    for (const file of files) {
      const config = await loadConfig(path.join('config', file));
      expect(config.storage.rootDirectory).toMatch(/^\//);
    }
  });

  it('serves the default config on 127.0.0.1:5000 from ./storage', async () => {
    const config = await loadConfig('config/zot.json');
    expect(config.http).toMatchObject({ address: '127.0.0.1', port: 5000 });
    expect(config.storage.rootDirectory).toBe(path.resolve('storage'));
  });

  it('matches keys case-insensitively and coerces zot weak types', () => {
    const config = buildConfig({ STORAGE: { rootdirectory: '/tmp/x', GCDelay: '2h30m', dedupe: 'false' }, Http: { PORT: '8081' }, log: { Level: 'error' } }, 'f.json');
    expect(config.storage).toMatchObject({ rootDirectory: '/tmp/x', gcDelayMs: 9_000_000, dedupe: false });
    expect(config.http.port).toBe(8081);
    expect(config.log.level).toBe('error');
  });

  it('applies zot defaults', () => {
    const config = buildConfig({ storage: { rootDirectory: '/tmp/x' } }, 'f.json');
    expect(config.http).toMatchObject({ address: '127.0.0.1', port: 8080, realm: 'Authorization Required' });
    expect(config.storage).toMatchObject({ gc: true, dedupe: true, gcDelayMs: 3_600_000, gcIntervalMs: 3_600_000 });
    expect(config.log.level).toBe('debug');
    expect(Object.isFrozen(config.storage)).toBe(true);
  });

  it('refuses malformed JSON naming the file', async () => {
    const [problem] = await problemsOf('{"storage": ');
    expect(problem).toMatch(/zot\.json: not valid JSON/);
  });

  it('refuses an empty file', async () => {
    expect(await problemsOf('  ')).toEqual([expect.stringMatching(/zot\.json: the file is empty/)]);
  });

  it('refuses a missing rootDirectory with its JSON path', async () => {
    expect(await problemsOf('{"storage": {}}')).toEqual([expect.stringMatching(/zot\.json: \/storage\/rootDirectory: is required; found nothing$/)]);
  });

  it('names the path, the expectation and what was found', async () => {
    const problems = await problemsOf('{"storage": {"rootDirectory": "/x", "gcDelay": "1d"}, "http": {"port": "http"}, "bogus": 1}');
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/\/storage\/gcDelay: must be a Go duration .*; found "1d"/),
        expect.stringMatching(/\/http\/port: must be integer; found "http"/),
        expect.stringMatching(/\/bogus: is not a key zot or Berth knows; found 1/),
      ]),
    );
  });

  it('refuses keys whose absence would change security or where data goes', () => {
    expect(() => buildConfig({ storage: { rootDirectory: '/x' }, http: { auth: { ldap: { address: 'ldap.example.org' } } } }, 'f.json')).toThrow(/f\.json: \/http\/auth\/ldap: not supported by Berth \(/);
  });

  it('reads htpasswd, failDelay and accessControl', () => {
    const config = buildConfig({ storage: { rootDirectory: '/x' }, http: { Auth: { HTPASSWD: { Path: 'h' }, failDelay: '2' }, accessControl: { repositories: { 'infra/*': { defaultPolicy: ['read'] } } } } }, 'f.json');
    expect(config.http.auth).toEqual({ failDelayMs: 2000, htpasswdPath: path.resolve('h'), apikey: false, secureSession: false });
    expect(config.http.accessControl?.repositories?.['infra/*']).toEqual({ defaultPolicy: ['read'] });
  });

  it('refuses a glob that does not compile, naming its key', () => {
    const document = { storage: { rootDirectory: '/x' }, http: { auth: { htpasswd: { path: 'h' } }, accessControl: { repositories: { 'a/[b': { defaultPolicy: ['read'] } } } } };
    expect(() => buildConfig(document, 'f.json')).toThrow(/f\.json: \/http\/accessControl\/repositories\/a~1\[b: the pattern does not compile/);
  });

  it('refuses unknown actions and CEL conditions', () => {
    const base = { storage: { rootDirectory: '/x' }, http: { auth: { htpasswd: { path: 'h' } } } };
    expect(() => buildConfig({ ...base, http: { ...base.http, accessControl: { repositories: { '**': { defaultPolicy: ['write'] } } } } }, 'f.json')).toThrow(/defaultPolicy\/0: must be one of/);
    expect(() => buildConfig({ ...base, http: { ...base.http, accessControl: { repositories: { '**': { policies: [{ users: ['a'], actions: ['read'], conditions: [{ expression: 'true' }] }] } } } } }, 'f.json')).toThrow(/\/http\/accessControl\/repositories\/\*\*\/policies\/0\/conditions: not supported by Berth/);
  });

  it('refuses rules for signed-in users when nobody can sign in', () => {
    expect(() => buildConfig({ storage: { rootDirectory: '/x' }, http: { accessControl: { repositories: { '**': { defaultPolicy: ['read'] } } } } }, 'f.json')).toThrow(/need authentication/);
    // Only anonymous rules: fine without authentication (a read-only public registry).
    expect(buildConfig({ storage: { rootDirectory: '/x' }, http: { accessControl: { repositories: { '**': { anonymousPolicy: ['read'] } } } } }, 'f.json').http.accessControl).toBeDefined();
  });

  it('warns about keys that only tune features Berth lacks', () => {
    const config = buildConfig({ storage: { rootDirectory: '/x' }, extensions: { search: { enable: true }, ui: { enable: true } } }, 'f.json');
    expect(config.warnings).toEqual([expect.stringMatching(/\/extensions\/search: accepted but has no effect/)]);
    expect(config.extensions.ui).toBe(true);
  });
});

describe('parseDuration', () => {
  it.each([
    ['1h', 3_600_000],
    ['90s', 90_000],
    ['2h30m', 9_000_000],
    ['1.5h', 5_400_000],
    ['100ms', 100],
    ['0', 0],
  ])('%s', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', '1d', 'h', '1h ', '-1h'])('refuses %j', (text) => expect(parseDuration(text)).toBeUndefined());
});
