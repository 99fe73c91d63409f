/**
 * Loads a zot.json file: parse, match keys case-insensitively, validate against
 * schemas/config.schema.json (coercing zot's weak types such as "port": "5000"), refuse what Berth
 * cannot honour safely, apply zot's defaults, freeze.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ConfigError, DIST_SPEC_VERSION, type BerthConfig, type LogLevel } from './config.js';
import { parseDuration } from './duration.js';
import { normalizeKeys, type JsonSchema } from './normalize-keys.js';
import { compileRepositoryGlob } from './repository-glob.js';
import { readOpenid } from './openid-config.js';
import { readBearer } from './bearer-config.js';
import { readRetention } from './retention-config.js';
import { readEvents } from './events-config.js';
import { readSync } from './sync-config.js';
import { readRedisDriver, readStorageDriver } from './remote-config.js';
import type { ZotConfig } from './zot-config.js';

const SCHEMA_PATH = new URL('../../schemas/config.schema.json', import.meta.url);
const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as JsonSchema;
// ajv-formats ships CommonJS whose default export TypeScript sees as a namespace under NodeNext.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = new Ajv({ allErrors: true, coerceTypes: true, useDefaults: false, strict: true, allowUnionTypes: true });
addFormats(ajv);
// The validator is the type guard: a document is a ZotConfig once the schema accepted it (and
// coerceTypes turned "5000" into 5000 in place), never before.
const validate = ajv.compile<ZotConfig>(schema);

const HOUR_MS = 3_600_000;

/**
 * Keys zot knows whose effect Berth does not provide yet, and which change who gets in or where data
 * goes: running without them would be unsafe, so they are refused rather than ignored.
 */
const REFUSED = ['/http/auth/ldap', '/http/auth/mtls', '/http/tls/cacert', '/storage/subPaths', '/cluster'];
/** Why a refused key is refused, where the general reason would mislead. */
const REFUSED_BECAUSE: Record<string, string> = {
  '/cluster': "zot's hash-routed cluster; Berth replicas share one bucket (storage.storageDriver) and one Redis (storage.cacheDriver) instead",
};
/** Keys that only tune features Berth lacks: accepted, with one warning each. */
const IGNORED = ['/storage/gcTimeWindow', '/storage/redirectBlobURL', '/storage/maxRepos', '/storage/fastRestart', '/http/allowOrigin', '/http/writeTimeout', '/scheduler', '/extensions/search', '/extensions/lint', '/extensions/trust', '/extensions/mgmt', '/extensions/apikey'];

function pointerGet(document: unknown, pointer: string): unknown {
  let node = document;
  for (const part of pointer.split('/').slice(1)) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function describeError(file: string, error: ErrorObject, document: unknown): string {
  let where = error.instancePath || '/';
  let found: unknown = pointerGet(document, error.instancePath);
  let message = error.message ?? 'is invalid';
  if (error.keyword === 'required') {
    const missing = (error.params as { missingProperty: string }).missingProperty;
    where = `${error.instancePath}/${missing}`;
    message = 'is required';
    found = undefined;
  } else if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    where = `${error.instancePath}/${extra}`;
    message = 'is not a key zot or Berth knows';
    found = pointerGet(document, where);
  } else if (error.keyword === 'enum') {
    message = `must be one of ${JSON.stringify((error.params as { allowedValues: unknown[] }).allowedValues)}`;
  } else if (error.keyword === 'pattern' && error.schemaPath.includes('duration')) {
    message = 'must be a Go duration such as "1h", "90s" or "2h30m"';
  }
  const shown = found === undefined ? 'nothing' : JSON.stringify(found);
  return `${file}: ${where}: ${message}; found ${shown}`;
}

const LOG_LEVELS: Record<string, LogLevel> = { panic: 'fatal', disabled: 'silent' };

/** Turns an already-parsed document into a config, or throws ConfigError with every problem. */
export function buildConfig(document: unknown, file: string): BerthConfig {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new ConfigError([`${file}: /: must be a JSON object; found ${JSON.stringify(document)}`]);
  }
  const normalized = normalizeKeys(listBearerIssuers(document), schema);
  // Refusals first: a config built around a feature Berth lacks (remote storage has no
  // rootDirectory) should hear that, not a complaint about what that feature made unnecessary.
  const refused = REFUSED.filter((pointer) => pointerGet(normalized, pointer) !== undefined);
  const lintAnnotations = pointerGet(normalized, '/extensions/lint/mandatoryAnnotations');
  if (pointerGet(normalized, '/extensions/lint/enable') !== false && Array.isArray(lintAnnotations) && lintAnnotations.length > 0) refused.push('/extensions/lint');
  if (refused.length > 0) {
    throw new ConfigError(refused.map((pointer) => `${file}: ${pointer}: not supported by Berth (${REFUSED_BECAUSE[pointer] ?? 'it would change who gets in or where data goes; remove it, or run zot'})`));
  }
  if (!validate(normalized)) {
    throw new ConfigError((validate.errors ?? []).map((error) => describeError(file, error, normalized)));
  }
  const warnings: string[] = [];
  const problems = checkAccessControl(normalized, file);
  const metricsPath = normalized.extensions?.metrics?.prometheus?.path;
  if (metricsPath !== undefined && (metricsPath === '/' || metricsPath === '/v2' || metricsPath.startsWith('/v2/') || metricsPath.startsWith('/zot/'))) {
    problems.push(`${file}: /extensions/metrics/prometheus/path: must not be "/" nor under /v2 or /zot; found "${metricsPath}"`);
  }
  const openid = normalized.http?.auth?.openid ? readOpenid(normalized.http.auth.openid, file, problems, warnings) : undefined;
  const bearer = normalized.http?.auth?.bearer ? readBearer(normalized.http.auth.bearer, file, problems, warnings) : undefined;
  const gcOn = normalized.storage.gc ?? true;
  const gcDelayMs = normalized.storage.gcDelay === undefined ? (gcOn ? HOUR_MS : 0) : parseDuration(normalized.storage.gcDelay)!;
  const retention = readRetention(normalized.storage.retention, gcDelayMs, file, problems, warnings);
  const s3 = normalized.storage.storageDriver ? readStorageDriver(normalized.storage.storageDriver, file, problems, warnings) : undefined;
  const redis = normalized.storage.cacheDriver ? readRedisDriver(normalized.storage.cacheDriver, '/storage/cacheDriver', file, problems, warnings) : undefined;
  const sessionDriver = normalized.http?.auth?.sessionDriver;
  const events = readEvents(normalized.extensions?.events, file, problems, warnings);
  const sync = readSync(normalized.extensions?.sync, file, problems, warnings);
  const sessionRedis = sessionDriver ? readRedisDriver(sessionDriver, '/http/auth/sessionDriver', file, problems, warnings) : undefined;
  let rootDirectory: string | undefined = normalized.storage.rootDirectory;
  if (rootDirectory === undefined) {
    // zot's remote-storage examples have no local root; Berth keeps its own small state there
    // (sessions, API keys) unless Redis holds it.
    if (normalized.storage.storageDriver === undefined) problems.push(`${file}: /storage/rootDirectory: is required; found nothing`);
    else {
      rootDirectory = 'storage';
      if (!redis || (!sessionRedis && normalized.http?.auth?.openid)) warnings.push(`${file}: /storage/rootDirectory: not set; Berth keeps sessions and API keys in ${path.resolve(rootDirectory)}`);
    }
  }
  if (s3 && !redis) {
    warnings.push(`${file}: /storage/storageDriver: without /storage/cacheDriver (redis), upload sessions and locks stay in this process: run one replica`);
  }
  if (redis && !s3) {
    warnings.push(`${file}: /storage/cacheDriver: with storage on the local disk only sessions and API keys are shared; replicas need /storage/storageDriver`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  // Only the values that would ask for something Berth does not do deserve a warning.
  for (const pointer of ['/storage/remoteCache', '/storage/hydrateBlobOnRead']) {
    if (pointerGet(normalized, pointer) === true) warnings.push(`${file}: ${pointer}: accepted but has no effect in Berth yet`);
  }
  warnings.push(...IGNORED.filter((pointer) => pointerGet(normalized, pointer) !== undefined).map((pointer) => `${file}: ${pointer}: accepted but has no effect in Berth yet`));
  if (normalized.distSpecVersion !== undefined && normalized.distSpecVersion !== DIST_SPEC_VERSION) {
    warnings.push(`${file}: /distSpecVersion: "${normalized.distSpecVersion}" differs from the served ${DIST_SPEC_VERSION}; using ${DIST_SPEC_VERSION}`);
  }

  const storage = normalized.storage;
  const http: NonNullable<ZotConfig['http']> = normalized.http ?? {};
  const log: NonNullable<ZotConfig['log']> = normalized.log ?? {};
  const gc = storage.gc ?? true;
  const duration = (value: string | undefined, fallback: number) => (value === undefined ? fallback : parseDuration(value)!);
  const level = String(log.level ?? 'debug');

  const config: BerthConfig = {
    file,
    distSpecVersion: DIST_SPEC_VERSION,
    storage: {
      rootDirectory: path.resolve(rootDirectory!),
      dedupe: storage.dedupe ?? true,
      gc,
      gcDelayMs,
      gcIntervalMs: duration(storage.gcInterval, gc ? HOUR_MS : 0),
      retention,
      ...(s3 ? { s3 } : {}),
      ...(redis ? { redis } : {}),
    },
    http: {
      address: http.address ?? '127.0.0.1',
      port: http.port ?? 8080,
      realm: http.realm || 'Authorization Required',
      readTimeoutMs: duration(http.readTimeout, 60_000),
      auth: {
        failDelayMs: (http.auth?.failDelay ?? 0) * 1000,
        ...(http.auth?.htpasswd ? { htpasswdPath: path.resolve(http.auth.htpasswd.path) } : {}),
        ...(openid ? { openid } : {}),
        ...(bearer ? { bearer } : {}),
        apikey: openid !== undefined || http.auth?.apikey === true,
        ...(http.auth?.sessionKeysFile ? { sessionKeysFile: path.resolve(http.auth.sessionKeysFile) } : {}),
        secureSession: http.auth?.secureSession === true,
        ...(sessionRedis ? { sessionRedis } : {}),
      },
      ...(http.accessControl ? { accessControl: http.accessControl } : {}),
      ...(http.tls ? { tls: { certFile: path.resolve(http.tls.cert), keyFile: path.resolve(http.tls.key) } } : {}),
      ...(http.ratelimit
        ? { rateLimit: { ...(http.ratelimit.rate ? { rate: http.ratelimit.rate } : {}), methods: Object.fromEntries((http.ratelimit.methods ?? []).map((item) => [item.method, item.rate])) } }
        : {}),
      ...(http.externalUrl ? { externalUrl: String(http.externalUrl).replace(/\/+$/, '') } : {}),
    },
    extensions: {
      ui: normalized.extensions?.ui !== undefined && normalized.extensions.ui.enable !== false,
      ...(normalized.extensions?.scrub && normalized.extensions.scrub.enable !== false
        ? { scrub: { intervalMs: Math.max(2 * HOUR_MS, duration(normalized.extensions.scrub.interval, 24 * HOUR_MS)) } }
        : {}),
      ...(normalized.extensions?.metrics && normalized.extensions.metrics.enable !== false
        ? { metrics: { path: normalized.extensions.metrics.prometheus?.path ?? '/metrics' } }
        : {}),
      ...(events ? { events } : {}),
      ...(sync ? { sync } : {}),
    },
    log: {
      level: LOG_LEVELS[level] ?? (level as LogLevel),
      ...(log.output ? { output: log.output } : {}),
      ...(log.audit ? { audit: log.audit } : {}),
    },
    warnings,
  };
  return deepFreeze(config);
}

/**
 * What the schema cannot say about accessControl: globs must compile, CEL `conditions` cannot be
 * honoured (ignoring them would grant more than the operator wrote), and rules for signed-in users
 * need a way to sign in (zot refuses that config too).
 */
function checkAccessControl(document: ZotConfig, file: string): string[] {
  const accessControl = document.http?.accessControl;
  if (!accessControl) return [];
  const problems: string[] = [];
  const repositories = accessControl.repositories ?? {};
  let needsAuthentication = accessControl.adminPolicy !== undefined || accessControl.groups !== undefined;
  for (const [pattern, rules] of Object.entries(repositories)) {
    const pointer = `/http/accessControl/repositories/${pattern.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    const where = `${file}: ${pointer}`;
    try {
      compileRepositoryGlob(pattern);
    } catch (error) {
      problems.push(`${where}: the pattern does not compile: ${(error as Error).message}`);
    }
    (rules.policies ?? []).forEach((policy, i) => {
      if (policy.conditions !== undefined) problems.push(`${file}: ${pointer}/policies/${i}/conditions: not supported by Berth (CEL conditions)`);
    });
    if ((rules.policies ?? []).length > 0 || (rules.defaultPolicy ?? []).length > 0) needsAuthentication = true;
  }
  if (accessControl.adminPolicy?.conditions !== undefined) {
    problems.push(`${file}: /http/accessControl/adminPolicy/conditions: not supported by Berth (CEL conditions)`);
  }
  if (needsAuthentication && !document.http?.auth?.htpasswd && !document.http?.auth?.openid && !document.http?.auth?.bearer?.oidc?.length) {
    problems.push(`${file}: /http/accessControl: rules for signed-in users need authentication; configure /http/auth/htpasswd, /http/auth/openid or /http/auth/bearer/oidc`);
  }
  return problems;
}

/** zot's own example writes `http.auth.bearer.oidc` as one object: taken as a list of one (keys matched case-insensitively). */
function listBearerIssuers(document: object): object {
  const child = (node: unknown, key: string): Record<string, unknown> | undefined => {
    if (typeof node !== 'object' || node === null) return undefined;
    const found = Object.keys(node).find((name) => name.toLowerCase() === key);
    return found === undefined ? undefined : ((node as Record<string, unknown>)[found] as Record<string, unknown>);
  };
  const bearer = child(child(child(document, 'http'), 'auth'), 'bearer');
  if (!bearer) return document;
  const key = Object.keys(bearer).find((name) => name.toLowerCase() === 'oidc');
  if (key !== undefined && typeof bearer[key] === 'object' && bearer[key] !== null && !Array.isArray(bearer[key])) {
    // A copy: the caller's document stays as written.
    const copy = structuredClone(document) as Record<string, unknown>;
    const copied = child(child(child(copy, 'http'), 'auth'), 'bearer')!;
    copied[key] = [copied[key]];
    return copy;
  }
  return document;
}

/** Reads and validates `file`; every failure names the file. */
export async function loadConfig(file: string): Promise<BerthConfig> {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (error) {
    throw new ConfigError([`${absolute}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`]);
  }
  if (text.trim() === '') throw new ConfigError([`${absolute}: the file is empty`]);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new ConfigError([`${absolute}: not valid JSON: ${(error as Error).message}`]);
  }
  return buildConfig(document, absolute);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
