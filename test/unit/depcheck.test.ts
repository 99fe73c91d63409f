/**
 * Dependencies flow one way (CONVENTIONS.md): main → app → http → {auth, access, registry, storage, config, oci};
 * auth → {access, config, storage, coordination, oci, workload}; workload → config; access → config; registry → {storage, oci, config};
 * storage → {coordination, oci}; coordination → oci; oci → node: only; only http/ and app.ts import fastify.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ALLOWED: Record<string, string[]> = {
  oci: ['oci'],
  storage: ['storage', 'coordination', 'oci'],
  coordination: ['coordination', 'oci'],
  config: ['config'],
  access: ['access', 'config', 'oci'],
  auth: ['auth', 'access', 'config', 'oci', 'storage', 'coordination', 'workload'],
  workload: ['workload', 'config'],
  registry: ['registry', 'storage', 'oci', 'config'],
  http: ['http', 'registry', 'storage', 'coordination', 'oci', 'config', 'auth', 'access', 'ui'],
  ui: ['ui', 'registry', 'access', 'oci'],
};
const PACKAGES_ALLOWED: Record<string, RegExp> = {
  oci: /^$/,
  storage: /^(@aws-sdk\/client-s3|@smithy\/node-http-handler|hash-wasm)$/,
  coordination: /^ioredis$/,
  config: /^(ajv|ajv-formats|picomatch|@bufbuild\/cel)$/,
  workload: /^(jose|@bufbuild\/cel|@bufbuild\/cel\/ext)$/,
  access: /^$/,
  auth: /^(bcryptjs|openid-client)$/,
  registry: /^(ajv|ajv-formats)$/,
  http: /^(fastify|fastify-plugin|@fastify\/cookie|prom-client|pino)$/,
  ui: /^$/,
};

async function sources(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile() && entry.name.endsWith('.ts')).map((entry) => path.join(entry.parentPath, entry.name));
}

describe('import direction', async () => {
  const files = await sources('src');
  it.each(files.filter((file) => file.split(path.sep).length > 2))('%s', async (file) => {
    const area = file.split(path.sep)[1]!;
    const text = await readFile(file, 'utf8');
    for (const [, specifier] of text.matchAll(/^\s*(?:import|export)[^'"]*from\s+'([^']+)'/gm)) {
      if (specifier!.startsWith('node:')) continue;
      if (specifier!.startsWith('.')) {
        const target = path.relative('src', path.resolve(path.dirname(file), specifier!)).split(path.sep)[0]!;
        expect(ALLOWED[area], `${file} imports ${specifier}`).toContain(target);
      } else {
        expect(specifier, `${file} imports package ${specifier}`).toMatch(PACKAGES_ALLOWED[area]!);
      }
    }
  });
});
