/**
 * Dependencies flow one way (CONVENTIONS.md, docs/architecture.md):
 *   main → cli → app (app.ts, backends.ts) → http → {ui, browse, registry, maintenance, auth, capabilities}
 *   → {access, storage → coordination} → {config, oci}
 * Every file of src/ is checked, those at its root included; static imports, `export … from` and
 * dynamic `import()` alike. Only http/ and app.ts import fastify. No file-level import cycle (type
 * imports count: a cycle of types is still two files that cannot be read apart).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/** The services level: what http/ (and the capabilities beside each other) may build on. */
const BELOW_SERVICES = ['access', 'storage', 'coordination', 'config', 'oci'];
/** New capabilities (pull-through sync, workload identity, events) sit at the services level. */
const CAPABILITY = ['registry', 'auth', ...BELOW_SERVICES];

const ALLOWED: Record<string, string[]> = {
  'main.ts': ['cli'],
  cli: ['cli', 'app.ts', 'backends.ts', 'maintenance', 'registry', 'auth', ...BELOW_SERVICES],
  'app.ts': ['app.ts', 'backends.ts', 'http', 'ui', 'browse', 'registry', 'maintenance', 'auth', 'sync', 'workload', 'events', ...BELOW_SERVICES],
  'backends.ts': BELOW_SERVICES,
  http: ['http', 'ui', 'browse', 'registry', 'maintenance', 'auth', 'sync', 'workload', 'events', ...BELOW_SERVICES],
  ui: ['ui', 'browse', 'registry', 'access', 'config', 'oci'],
  browse: ['browse', 'registry', 'storage', 'coordination', 'config', 'oci'],
  maintenance: ['maintenance', 'registry', 'storage', 'coordination', 'config', 'oci'],
  registry: ['registry', 'storage', 'config', 'oci'],
  auth: ['auth', ...BELOW_SERVICES],
  sync: ['sync', ...CAPABILITY],
  workload: ['workload', ...CAPABILITY],
  events: ['events', ...CAPABILITY],
  access: ['access', 'config', 'oci'],
  storage: ['storage', 'coordination', 'config', 'oci'],
  coordination: ['coordination', 'oci'],
  config: ['config', 'oci'],
  oci: ['oci'],
};
const PACKAGES_ALLOWED: Record<string, RegExp> = {
  'main.ts': /^$/,
  cli: /^$/,
  'app.ts': /^(fastify|@fastify\/cookie)$/,
  'backends.ts': /^$/,
  http: /^(fastify|fastify-plugin|@fastify\/cookie|@fastify\/type-provider-json-schema-to-ts|json-schema-to-ts|prom-client|pino)$/,
  ui: /^$/,
  browse: /^$/,
  maintenance: /^$/,
  registry: /^(ajv|ajv-formats)$/,
  auth: /^(bcryptjs|openid-client|jose|@bufbuild\/cel)$/,
  sync: /^(undici)$/,
  workload: /^(jose|@bufbuild\/cel|@bufbuild\/cel\/ext)$/,
  events: /^(cloudevents|nats|undici)$/,
  access: /^$/,
  storage: /^(@aws-sdk\/client-s3|@smithy\/node-http-handler|hash-wasm)$/,
  coordination: /^ioredis$/,
  config: /^(ajv|ajv-formats|json-schema-to-ts|picomatch|@bufbuild\/cel)$/,
  oci: /^$/,
};

/** `from '…'` (import and export), side-effect `import '…'`, and `import('…')`. */
const SPECIFIER = /(?:^\s*(?:import|export)[^'"]*?from\s+|^\s*import\s+|\bimport\(\s*)'([^']+)'/gm;

/** A file's area: its folder under src/, or its own name at src/'s root. */
const areaOf = (relative: string) => relative.split(path.sep)[0]!;

async function sources(): Promise<string[]> {
  const entries = await readdir('src', { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile() && entry.name.endsWith('.ts')).map((entry) => path.relative('src', path.join(entry.parentPath, entry.name)));
}

async function importsOf(file: string): Promise<Array<{ specifier: string; target?: string }>> {
  const text = await readFile(path.join('src', file), 'utf8');
  return [...text.matchAll(SPECIFIER)].map(([, specifier]) => ({
    specifier: specifier!,
    ...(specifier!.startsWith('.') ? { target: path.relative('src', path.resolve('src', path.dirname(file), specifier!)).replace(/\.js$/, '.ts') } : {}),
  }));
}

describe('import direction', async () => {
  const files = await sources();

  it('knows every area of src/', () => {
    expect([...new Set(files.map(areaOf))].filter((area) => ALLOWED[area] === undefined)).toEqual([]);
  });

  it.each(files)('%s', async (file) => {
    const area = areaOf(file);
    for (const { specifier, target } of await importsOf(file)) {
      if (specifier.startsWith('node:')) continue;
      if (target !== undefined) expect(ALLOWED[area], `${file} imports ${specifier}`).toContain(areaOf(target));
      else expect(specifier, `${file} imports package ${specifier}`).toMatch(PACKAGES_ALLOWED[area]!);
    }
  });

  it('has no file-level import cycle', async () => {
    const graph = new Map<string, string[]>();
    for (const file of files)
      graph.set(
        file,
        (await importsOf(file)).flatMap(({ target }) => (target !== undefined ? [target] : [])),
      );
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, trail: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...trail.slice(trail.indexOf(file)), file].join(' → '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) visit(next, [...trail, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it('reads dynamic imports and re-exports too (the checker itself)', () => {
    const text = "export { A } from './a.js';\nconst m = await import('./b.js');\nimport './c.js';\nimport type { D } from '../d.js';";
    expect([...text.matchAll(SPECIFIER)].map(([, specifier]) => specifier)).toEqual(['./a.js', './b.js', './c.js', '../d.js']);
  });
});
