/**
 * The grammar of repository names and tags.
 * Spec: https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pulling-manifests
 */
import { RegistryError } from './errors.js';

const NAME_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Clients cap host + name near 255 characters; distribution refuses longer names too. */
export const MAX_NAME_LENGTH = 255;

/**
 * Path components that would collide with the OCI layout of a parent repository (`a/blobs` would land
 * inside `a`'s blob folder) or with zot's files at the storage root.
 */
const RESERVED_COMPONENTS = new Set(['blobs', 'index.json', 'oci-layout']);
const RESERVED_TOP_LEVEL = new Set(['cache.db', 'meta.db']);

/** Why `name` is not a valid repository name, or undefined when it is. */
export function explainInvalidName(name: string): string | undefined {
  if (name.length === 0) return 'name is empty';
  if (name.length > MAX_NAME_LENGTH) return `name is longer than ${MAX_NAME_LENGTH} characters`;
  const parts = name.split('/');
  for (const part of parts) {
    if (!NAME_COMPONENT.test(part)) return `path component "${part}" does not match ${NAME_COMPONENT.source}`;
    if (RESERVED_COMPONENTS.has(part)) return `path component "${part}" is reserved by the storage layout`;
  }
  if (RESERVED_TOP_LEVEL.has(parts[0] ?? '')) return `"${parts[0]}" is reserved at the top level`;
  return undefined;
}

export function isValidName(name: string): boolean {
  return explainInvalidName(name) === undefined;
}

/** Throws NAME_INVALID unless `name` is a repository name this registry can store. */
export function assertValidName(name: string): void {
  const why = explainInvalidName(name);
  if (why !== undefined) throw new RegistryError('NAME_INVALID', { name, reason: why });
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

export function assertValidTag(tag: string): void {
  if (!TAG.test(tag)) throw new RegistryError('TAG_INVALID', { tag, reason: `tag does not match ${TAG.source}` });
}
