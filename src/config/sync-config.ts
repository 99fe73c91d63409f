/**
 * zot's `extensions.sync`: upstream registries Berth pulls through on demand (a pull-through cache)
 * or mirrors every `pollInterval`. Read here into the shape the sync module uses: durations in ms,
 * regular expressions compiled, globs compiled, the credentials file read (its passwords are never
 * logged), certDir's files found. zot keys Berth does not honour are refused by name with the reason,
 * as every other unsupported key is: silently ignoring a cloud credential helper would mean pulling
 * anonymously, which an operator must hear about at start.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseDuration } from './duration.js';
import { compileRepositoryGlob, type RepositoryMatcher } from './repository-glob.js';
import type { ZotSync } from './zot-config.js';

export interface SyncContentRule {
  /** The rule's glob as written (leading `/` dropped): it matches upstream repository names. */
  prefix: string;
  matches: RepositoryMatcher;
  tags: { regex?: RegExp; excludeRegex?: RegExp; semver: boolean };
  /** Where matched repositories go locally ('' = under their own name). */
  destination: string;
  stripPrefix: boolean;
}

export interface SyncUpstreamCredentials {
  username: string;
  password: string;
}

export interface SyncRegistryConfig {
  /** Upstream base URLs, tried in order (zot's `urls`): `https://host[:port]`. */
  urls: string[];
  onDemand: boolean;
  /** Periodic mirroring every this many ms; undefined = none. */
  pollIntervalMs?: number;
  /** How long a tag held locally is served without asking the upstream whether it moved. */
  manifestCheckIntervalMs: number;
  /** Empty: every repository, under the same name. */
  content: SyncContentRule[];
  tlsVerify: boolean;
  /** zot's certDir as docker reads it: `ca.crt` (trusted CAs), `client.cert` + `client.key` (mTLS). */
  tls?: { ca?: string; cert?: string; key?: string };
  maxRetries: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
  onlySigned: boolean;
  syncLegacyCosignTags: boolean;
  /** The longest one image's sync may take (zot's syncTimeout, default 3h). */
  syncTimeoutMs: number;
  /** Requests in flight per upstream host (zot's reqConcurrent, default 3 in zot; Berth 8). */
  reqConcurrent: number;
  /** From credentialsFile, by the URL's host[:port]. */
  credentials: Map<string, SyncUpstreamCredentials>;
}

export interface SyncConfig {
  registries: SyncRegistryConfig[];
}

/** Berth's default for manifestCheckInterval: zot checks on every pull when unset (0); a cache wants fewer round trips. */
export const DEFAULT_MANIFEST_CHECK_MS = 5 * 60_000;
const DEFAULT_SYNC_TIMEOUT_MS = 3 * 3_600_000;
const DEFAULT_RETRY_DELAY_MS = 1_000;
const DEFAULT_MAX_RETRIES = 3;
const DEFAULT_CONCURRENCY = 8;

/** zot keys Berth refuses, and why (each names what to do instead). */
const REFUSED_REGISTRY_KEYS: Record<string, string> = {
  credentialHelper: 'cloud credential helpers (ECR, GCP, oauth2) are not supported by Berth; put a username and token in credentialsFile',
  oauth2CredentialHelper: 'cloud credential helpers (ECR, GCP, oauth2) are not supported by Berth; put a username and token in credentialsFile',
  credentialHelperConfig: 'cloud credential helpers (ECR, GCP, oauth2) are not supported by Berth; put a username and token in credentialsFile',
  reqPerSec: 'Berth does not rate-limit upstream requests; use reqConcurrent to cap requests in flight',
  disableHTTP2: 'Berth speaks HTTP/1.1 to upstreams over a pool of reqConcurrent connections; remove the key',
  maxIdleConnsPerHost: 'Berth keeps reqConcurrent connections per upstream; remove the key',
};

/** zot keys for staging and streaming: Berth always streams an upstream blob to the client while it stores it. */
const STREAMING_KEYS = ['stream', 'maxConcurrentStreams', 'streamCache'];
const STREAMING_TOP_KEYS = ['enableStream', 'enableStreaming', 'asyncManifest'];

/** Docker Hub's names for one registry: credentials for any of them apply to all. */
export const DOCKER_HUB_HOSTS = ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'];

function duration(value: string | undefined, fallback: number): number {
  return value === undefined ? fallback : (parseDuration(value) ?? fallback);
}

function compileRegex(text: string | undefined, where: string, problems: string[]): RegExp | undefined {
  if (text === undefined || text === '') return undefined;
  try {
    return new RegExp(text);
  } catch (error) {
    problems.push(`${where}: not a regular expression Berth can use: ${(error as Error).message}`);
    return undefined;
  }
}

/** `{"host:port": {"username", "password"}}` (zot's credentialsFile); problems name the file, never a secret. */
function readCredentials(file: string, where: string, problems: string[]): Map<string, SyncUpstreamCredentials> {
  const found = new Map<string, SyncUpstreamCredentials>();
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    problems.push(`${where}: cannot read ${file} as JSON: ${(error as NodeJS.ErrnoException).code ?? 'invalid JSON'}`);
    return found;
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    problems.push(`${where}: ${file} must hold {"host:port": {"username": "...", "password": "..."}}`);
    return found;
  }
  for (const [host, entry] of Object.entries(document as Record<string, unknown>)) {
    const item = entry as Record<string, unknown> | null;
    if (typeof item !== 'object' || item === null || typeof item.username !== 'string' || typeof item.password !== 'string') {
      problems.push(`${where}: ${file}: the entry for "${host}" needs a string username and password`);
      continue;
    }
    const credentials = { username: item.username, password: item.password };
    const hosts = DOCKER_HUB_HOSTS.includes(host.toLowerCase()) ? DOCKER_HUB_HOSTS : [host.toLowerCase()];
    for (const name of hosts) found.set(name, credentials);
  }
  return found;
}

/** docker's certs.d layout, which zot's certDir follows: *.crt are CAs, *.cert + *.key a client pair. */
function readCertDir(folder: string, where: string, problems: string[]): SyncRegistryConfig['tls'] {
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch (error) {
    problems.push(`${where}: cannot read the folder ${folder}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    return undefined;
  }
  const read = (name: string) => readFileSync(path.join(folder, name), 'utf8');
  const cas = names.filter((name) => name.endsWith('.crt')).sort();
  const cert = names.find((name) => name.endsWith('.cert'));
  const key = cert ? names.find((name) => name === cert.replace(/\.cert$/, '.key')) : undefined;
  if (cert && !key) problems.push(`${where}: ${cert} has no matching ${cert.replace(/\.cert$/, '.key')}`);
  if (cas.length === 0 && !cert) problems.push(`${where}: ${folder} holds no *.crt (CA) nor *.cert/*.key (client certificate)`);
  return {
    ...(cas.length > 0 ? { ca: cas.map(read).join('\n') } : {}),
    ...(cert && key ? { cert: read(cert), key: read(key) } : {}),
  };
}

/** Reads `extensions.sync` (already schema-checked, keys normalised); undefined when off. */
export function readSync(raw: ZotSync | undefined, file: string, problems: string[], warnings: string[]): SyncConfig | undefined {
  if (!raw || raw.enable === false) return undefined;
  const at = `${file}: /extensions/sync`;
  if (raw.downloadDir !== undefined) {
    warnings.push(`${at}/downloadDir: has no effect in Berth, which streams upstream blobs straight into its storage (no staging folder)`);
  }
  for (const key of STREAMING_TOP_KEYS) {
    if ((raw as Record<string, unknown>)[key] !== undefined) warnings.push(`${at}/${key}: has no effect in Berth, which always streams upstream blobs to the client while storing them`);
  }
  const credentials = raw.credentialsFile ? readCredentials(path.resolve(raw.credentialsFile), `${at}/credentialsFile`, problems) : new Map<string, SyncUpstreamCredentials>();
  const registries: SyncRegistryConfig[] = [];
  (raw.registries ?? []).forEach((item, index) => {
    const where = `${at}/registries/${index}`;
    for (const [key, reason] of Object.entries(REFUSED_REGISTRY_KEYS)) {
      if ((item as Record<string, unknown>)[key] !== undefined) problems.push(`${where}/${key}: not supported by Berth (${reason})`);
    }
    for (const key of STREAMING_KEYS) {
      if ((item as Record<string, unknown>)[key] !== undefined) warnings.push(`${where}/${key}: has no effect in Berth, which always streams upstream blobs to the client while storing them`);
    }
    for (const key of ['platforms', 'architectures'] as const) {
      if (item[key] !== undefined) warnings.push(`${where}/${key}: has no effect in Berth, which mirrors every platform of an index (so each digest the index names can be pulled)`);
    }
    const urls: string[] = [];
    item.urls.forEach((text, at) => {
      let url: URL | undefined;
      try {
        url = new URL(text);
      } catch {
        // Not repeated: a malformed address may hold a password.
        problems.push(`${where}/urls/${at}: not a URL`);
        return;
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') problems.push(`${where}/urls/${at}: an upstream is reached over https:// or http://; found ${url.protocol}//`);
      else if (url.username || url.password) problems.push(`${where}/urls/${at}: credentials in the URL; put them in credentialsFile (they are never logged)`);
      else {
        // zot (regclient) addresses an upstream by host alone; a path is dropped there too.
        if (url.pathname !== '/' || url.search) warnings.push(`${where}/urls/${at}: the path of "${text}" is ignored, as zot ignores it; the upstream is ${url.origin}`);
        urls.push(url.origin);
      }
    });
    const content: SyncContentRule[] = [];
    (item.content ?? []).forEach((rule, ruleAt) => {
      const ruleWhere = `${where}/content/${ruleAt}`;
      const prefix = rule.prefix.replace(/^\/+/, '');
      let matches: RepositoryMatcher;
      try {
        matches = compileRepositoryGlob(prefix);
      } catch (error) {
        problems.push(`${ruleWhere}/prefix: not a glob Berth can use: ${(error as Error).message}`);
        return;
      }
      const regex = compileRegex(rule.tags?.regex, `${ruleWhere}/tags/regex`, problems);
      const excludeRegex = compileRegex(rule.tags?.excludeRegex, `${ruleWhere}/tags/excludeRegex`, problems);
      content.push({
        prefix,
        matches,
        tags: { ...(regex ? { regex } : {}), ...(excludeRegex ? { excludeRegex } : {}), semver: rule.tags?.semver === true },
        destination: (rule.destination ?? '').replace(/^\/+|\/+$/g, ''),
        stripPrefix: rule.stripPrefix === true,
      });
    });
    const onDemand = item.onDemand === true;
    const pollIntervalMs = item.pollInterval === undefined ? undefined : duration(item.pollInterval, 0);
    if (pollIntervalMs !== undefined && pollIntervalMs > 0 && content.length === 0) {
      problems.push(`${where}/content: periodic sync (pollInterval) needs content rules saying what to mirror; found nothing`);
    }
    if (!onDemand && !(pollIntervalMs && pollIntervalMs > 0)) warnings.push(`${where}: neither onDemand nor pollInterval: this upstream is never used`);
    if (item.maxRetries !== undefined && item.retryDelay === undefined) problems.push(`${where}/retryDelay: is required with maxRetries (as in zot)`);
    if (item.maxRetryDelay !== undefined && item.retryDelay === undefined) problems.push(`${where}/retryDelay: is required with maxRetryDelay (as in zot)`);
    const retryDelayMs = duration(item.retryDelay, DEFAULT_RETRY_DELAY_MS);
    const maxRetryDelayMs = duration(item.maxRetryDelay, retryDelayMs);
    if (maxRetryDelayMs < retryDelayMs) problems.push(`${where}/maxRetryDelay: must be at least retryDelay`);
    const manifestCheckIntervalMs = duration(item.manifestCheckInterval, DEFAULT_MANIFEST_CHECK_MS);
    if (item.manifestCheckInterval !== undefined && !onDemand) warnings.push(`${where}/manifestCheckInterval: only on-demand pulls recheck tags; onDemand is off`);
    const tls = item.certDir ? readCertDir(path.resolve(item.certDir), `${where}/certDir`, problems) : undefined;
    if (item.tlsVerify === false) warnings.push(`${where}/tlsVerify: false: the upstream's certificate is not checked; anyone on the path can serve images (digests are still verified)`);
    if (item.preserveDigest === false) warnings.push(`${where}/preserveDigest: Berth never converts manifests; the upstream's bytes and digests are always kept`);
    const registryCredentials = new Map<string, SyncUpstreamCredentials>();
    for (const url of urls) {
      const host = new URL(url).host.toLowerCase();
      const found = credentials.get(host);
      if (found) registryCredentials.set(host, found);
    }
    registries.push({
      urls,
      onDemand,
      ...(pollIntervalMs !== undefined && pollIntervalMs > 0 ? { pollIntervalMs } : {}),
      manifestCheckIntervalMs,
      content,
      tlsVerify: item.tlsVerify !== false,
      ...(tls ? { tls } : {}),
      maxRetries: item.maxRetries ?? DEFAULT_MAX_RETRIES,
      retryDelayMs,
      maxRetryDelayMs,
      onlySigned: item.onlySigned === true,
      syncLegacyCosignTags: item.syncLegacyCosignTags !== false,
      syncTimeoutMs: duration(item.syncTimeout, DEFAULT_SYNC_TIMEOUT_MS) || DEFAULT_SYNC_TIMEOUT_MS,
      reqConcurrent: item.reqConcurrent ?? DEFAULT_CONCURRENCY,
      credentials: registryCredentials,
    });
  });
  if (registries.length === 0) warnings.push(`${at}/registries: sync is on but there is no upstream; nothing is synced`);
  return { registries };
}
