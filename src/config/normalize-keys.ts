/**
 * zot reads its config through viper, which lower-cases every key: `rootDirectory`, `rootdirectory`
 * and `ROOTDIRECTORY` are one key. This rewrites a parsed document so each key a schema names takes
 * the schema's spelling; keys under `additionalProperties` (repository globs, provider names) keep
 * theirs. Walking the schema keeps one source of truth for the key names.
 */
export type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  $ref?: string;
  definitions?: Record<string, JsonSchema>;
  [key: string]: unknown;
};

function resolve(schema: JsonSchema, root: JsonSchema): JsonSchema {
  const ref = schema.$ref;
  if (ref === undefined) return schema;
  const name = ref.replace(/^#\/definitions\//, '');
  const target = root.definitions?.[name];
  if (!target) throw new Error(`schema reference ${ref} not found`);
  return resolve(target, root);
}

export function normalizeKeys(value: unknown, schema: JsonSchema, root: JsonSchema = schema): unknown {
  const resolved = resolve(schema, root);
  if (Array.isArray(value)) {
    return resolved.items ? value.map((item) => normalizeKeys(item, resolved.items!, root)) : value;
  }
  if (typeof value !== 'object' || value === null) return value;
  const properties = resolved.properties ?? {};
  const canonical = new Map(Object.keys(properties).map((key) => [key.toLowerCase(), key]));
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    const name = canonical.get(key.toLowerCase());
    if (name !== undefined) {
      out[name] = normalizeKeys(child, properties[name]!, root);
    } else {
      const extra = resolved.additionalProperties;
      out[key] = typeof extra === 'object' ? normalizeKeys(child, extra, root) : child;
    }
  }
  return out;
}
