/**
 * zot's own example configs (test/fixtures/zot-examples, see its README for provenance). Issue 7:
 * every one must either load with Berth's loader or be refused with messages that all say "not
 * supported by Berth" — never a crash, and never a complaint about valid zot syntax (an unknown-key
 * or type error on a key zot accepts is a Berth defect).
 *
 * Files the examples name (htpasswd, credentials, session keys, TLS, logs) are written to a temporary
 * folder and the paths rewritten first, so only the config itself is judged.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AccessPolicy, ANONYMOUS } from '../../../src/access/policy.js';
import { ConfigError, type BerthConfig } from '../../../src/config/config.js';
import { buildConfig } from '../../../src/config/load-config.js';
import { TempDirs } from '../../helpers/temp-dirs.js';

const ROOT = 'test/fixtures/zot-examples';
/** Not configs: files that examples name (their role is in the fixtures' README). */
const SUPPORT_FILES = ['config-ldap-credentials.json', 'config-openid-github-credentials.json', 'sessionKeys.json'];
const NOT_SUPPORTED = /not supported by Berth/;

type Json = Record<string, any>;
type Outcome = { loaded: BerthConfig } | { refused: string[] };

const fixtures = readdirSync(ROOT, { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.json'))
  .map((file) => file.split(path.sep).join('/'))
  .sort();
const configs = fixtures.filter((file) => !SUPPORT_FILES.includes(file));

const temp = new TempDirs();
afterAll(() => temp.removeAll());

/** The key of `object` that zot would read as `name` (viper lower-cases every key). */
function keyOf(object: unknown, name: string): string | undefined {
  if (typeof object !== 'object' || object === null) return undefined;
  return Object.keys(object).find((key) => key.toLowerCase() === name.toLowerCase());
}

function at(object: unknown, ...names: string[]): Json | undefined {
  let node = object;
  for (const name of names) {
    const key = keyOf(node, name);
    if (key === undefined) return undefined;
    node = (node as Json)[key];
  }
  return typeof node === 'object' && node !== null ? (node as Json) : undefined;
}

/** Rewrites `object[name]` (a file path) to a file in `dir`, made by `make`. */
async function redirect(object: Json | undefined, name: string, dir: string, make: (file: string, original: string) => Promise<void>): Promise<void> {
  const key = keyOf(object, name);
  if (object === undefined || key === undefined || typeof object[key] !== 'string' || object[key] === '') return;
  const original = object[key] as string;
  const file = path.join(dir, `${name}-${Math.random().toString(16).slice(2)}-${path.basename(original)}`);
  await make(file, original);
  object[key] = file;
}

const placeholder = (text: string) => (file: string) => writeFile(file, text);
/** The upstream support file of that name when the fixtures have it, else `fallback`. */
const supportOr = (fallback: string) => async (file: string, original: string) => {
  const name = path.basename(original);
  if (SUPPORT_FILES.includes(name)) await copyFile(path.join(ROOT, name), file);
  else await writeFile(file, fallback);
};

/** A copy of the example whose file references point at files that exist. */
async function prepare(example: string): Promise<Json> {
  const document = JSON.parse(readFileSync(path.join(ROOT, example), 'utf8')) as Json;
  const dir = await temp.make('zot-example');
  const storage = at(document, 'storage');
  const rootKey = keyOf(storage, 'rootDirectory');
  if (storage && rootKey) storage[rootKey] = path.join(dir, 'storage');
  const auth = at(document, 'http', 'auth');
  await redirect(at(auth, 'htpasswd'), 'path', dir, placeholder(''));
  await redirect(auth, 'sessionKeysFile', dir, supportOr('{"hashKey": "placeholder-hash-key-0123456789", "encryptKey": "placeholder-encrypt-key-0123"}'));
  await redirect(at(auth, 'ldap'), 'credentialsFile', dir, supportOr('{"bindDN": "cn=placeholder", "bindPassword": "placeholder"}'));
  for (const provider of Object.values(at(auth, 'openid', 'providers') ?? {})) {
    await redirect(provider as Json, 'credentialsFile', dir, supportOr('{"clientid": "placeholder-client-id", "clientsecret": "placeholder-client-secret"}'));
  }
  const tls = at(document, 'http', 'tls');
  for (const name of ['cert', 'key', 'cacert']) await redirect(tls, name, dir, placeholder('placeholder PEM\n'));
  const log = at(document, 'log');
  for (const name of ['output', 'audit']) await redirect(log, name, dir, async () => {});
  await redirect(at(document, 'extensions', 'sync'), 'credentialsFile', dir, placeholder('{}'));
  for (const registry of (at(document, 'extensions', 'sync')?.[keyOf(at(document, 'extensions', 'sync'), 'registries') ?? ''] as Json[] | undefined) ?? []) {
    await redirect(registry, 'certDir', dir, async (folder) => {
      await mkdir(folder);
      await writeFile(path.join(folder, 'ca.crt'), 'placeholder PEM\n');
    });
  }
  await mkdir(path.join(dir, 'storage'), { recursive: true });
  return document;
}

function outcome(document: Json, file: string): Outcome {
  try {
    return { loaded: buildConfig(document, file) };
  } catch (error) {
    if (error instanceof ConfigError) return { refused: error.problems };
    throw error;
  }
}

/** The JSON pointer a problem line names (`<file>: <pointer>: <message>`). */
function pointerOf(problem: string, file: string): string | undefined {
  if (!problem.startsWith(`${file}: /`)) return undefined;
  const rest = problem.slice(file.length + 2);
  return rest.slice(0, rest.indexOf(': '));
}

/** Removes the key a JSON pointer names, matching keys as zot does (case-insensitively). */
function remove(document: Json, pointer: string): void {
  const parts = pointer.split('/').slice(1).map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'));
  const last = parts.pop();
  const parent = at(document, ...parts);
  const key = keyOf(parent, last ?? '');
  if (parent && key !== undefined) delete parent[key];
}

describe("zot's example configs", () => {
  it('are all listed, with their commit, in the fixtures README', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const listed = [...readme.matchAll(/^\| `([^`]+\.json)` \| `([0-9a-f]{40})` \|/gm)].map((match) => match[1]);
    expect(listed.sort()).toEqual(fixtures);
    expect(configs.length).toBeGreaterThan(70);
  });

  it.each(configs)('%s loads, or is refused only as "not supported by Berth"', async (file) => {
    const result = outcome(await prepare(file), file);
    if ('refused' in result) {
      expect(result.refused.length).toBeGreaterThan(0);
      expect(result.refused.filter((problem) => !NOT_SUPPORTED.test(problem)), 'problems that are not "not supported by Berth"').toEqual([]);
      for (const problem of result.refused) expect(pointerOf(problem, file), `${problem} names the file and a JSON path`).toBeDefined();
    } else {
      expect(path.isAbsolute(result.loaded.storage.rootDirectory)).toBe(true);
      for (const warning of result.loaded.warnings) expect(warning.startsWith(`${file}: /`), warning).toBe(true);
    }
  });

  // A refusal must not hide a complaint about the rest of the file: without the keys Berth refuses,
  // the example loads (or fails only because a removed key was its way of signing in).
  it.each(configs)('%s, without the keys Berth refuses, loads', async (file) => {
    const document = await prepare(file);
    let result = outcome(document, file);
    const removed: string[] = [];
    for (let round = 0; round < 5 && 'refused' in result; round++) {
      const pointers = result.refused.filter((problem) => NOT_SUPPORTED.test(problem)).map((problem) => pointerOf(problem, file)!);
      const fresh = pointers.filter((pointer) => !removed.includes(pointer));
      if (fresh.length === 0) break;
      for (const pointer of fresh) remove(document, pointer);
      removed.push(...fresh);
      // An example for remote storage may have no local root; Berth needs one.
      const storage = at(document, 'storage');
      if (storage && keyOf(storage, 'rootDirectory') === undefined) storage.rootDirectory = await temp.make('zot-example-root');
      result = outcome(document, file);
    }
    if ('refused' in result) {
      const consequence = /need authentication/;
      expect(result.refused.filter((problem) => !consequence.test(problem)), `after removing ${removed.join(', ') || 'nothing'}`).toEqual([]);
    }
  });

  // Recent zot (config-user-namespaces.json): a `${username}` segment gives every signed-in user the
  // rules on the namespace named after them. Read literally it matches nothing, which would silently
  // change who may push where.
  it('config-user-namespaces.json: ${username} patterns mean what zot means, or are refused', async () => {
    const file = 'config-user-namespaces.json';
    const result = outcome(await prepare(file), file);
    if ('refused' in result) {
      expect(result.refused.filter((problem) => !NOT_SUPPORTED.test(problem))).toEqual([]);
      return;
    }
    const policy = AccessPolicy.compile(result.loaded.http.accessControl, true);
    const alice = { username: 'alice', groups: [] };
    expect(policy.can(alice, 'create', 'alice/app'), 'alice may push to alice/app').toBe(true);
    expect(policy.can(alice, 'update', 'alice/team/app'), 'and below it').toBe(true);
    expect(policy.can(alice, 'create', 'bob/app'), 'but not to bob/app').toBe(false);
    expect(policy.can(alice, 'delete', 'alice/app'), 'delete is not granted').toBe(false);
    expect(policy.can(ANONYMOUS, 'read', 'alice/app'), 'anonymous callers have no namespace').toBe(false);
  });
});
