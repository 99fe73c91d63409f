/**
 * zot.json's TypeScript type is derived from schemas/config.schema.json (src/config/zot-config.ts,
 * through the generated src/config/config-schema.generated.ts): this fails when the JSON file was
 * edited and `node scripts/config-schema-type.mjs` not run, and the type checks below fail to
 * compile (tsc runs over test/) when the derivation stops resolving the schema's references.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { ZotConfig } from '../../../src/config/zot-config.js';

const DECLARATION = 'export type ConfigSchema = ';

describe('the config type', () => {
  it('is generated from the schema as it stands', async () => {
    const schema: unknown = JSON.parse(await readFile('schemas/config.schema.json', 'utf8'));
    const generated = await readFile('src/config/config-schema.generated.ts', 'utf8');
    const start = generated.indexOf(DECLARATION);
    expect(start, 'the generated file declares ConfigSchema').toBeGreaterThan(0);
    const literal = generated.slice(start + DECLARATION.length).trim().replace(/;$/, '');
    expect(JSON.parse(literal), 'src/config/config-schema.generated.ts is stale: run node scripts/config-schema-type.mjs').toEqual(schema);
  });

  it('follows the schema through its references', () => {
    type Http = NonNullable<ZotConfig['http']>;
    type Rules = NonNullable<NonNullable<NonNullable<Http['accessControl']>['repositories']>[string]>;
    expectTypeOf<ZotConfig['storage']['rootDirectory']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<Http['port']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<NonNullable<NonNullable<Http['auth']>['htpasswd']>['path']>().toEqualTypeOf<string>();
    expectTypeOf<NonNullable<Rules['defaultPolicy']>[number]>().toEqualTypeOf<'read' | 'create' | 'update' | 'delete' | 'detectManifestCollision'>();
    expectTypeOf<NonNullable<NonNullable<ZotConfig['log']>['level']>>().toEqualTypeOf<'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'panic' | 'disabled'>();
    // additionalProperties: false leaves no room for keys the schema does not name.
    expectTypeOf<ZotConfig>().not.toHaveProperty('extra');
  });
});
