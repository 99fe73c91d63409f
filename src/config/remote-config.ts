/**
 * zot's remote drivers: `storage.storageDriver` (S3), `storage.cacheDriver` and
 * `http.auth.sessionDriver` (Redis). They are what lets several Berth replicas serve one registry.
 * Secrets belong in the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, BERTH_REDIS_PASSWORD),
 * as with OpenID client secrets; inline ones still work, with a warning.
 */
import type { RedisConfig, S3StorageConfig } from './config.js';
import type { ZotRedisDriver, ZotStorageDriver } from './zot-config.js';

const DEFAULT_KEY_PREFIX = 'berth';

const S3_KEYS = new Set(['name', 'rootdirectory', 'region', 'regionendpoint', 'bucket', 'forcepathstyle', 'secure', 'skipverify', 'accesskey', 'secretkey']);

export function readStorageDriver(driver: ZotStorageDriver, file: string, problems: string[], warnings: string[]): S3StorageConfig | undefined {
  const where = `${file}: /storage/storageDriver`;
  if (driver.name !== 's3') {
    problems.push(`${where}: not supported by Berth (name ${JSON.stringify(driver.name)}; only "s3", which any S3-compatible store speaks)`);
    return undefined;
  }
  if (driver.bucket === undefined) {
    problems.push(`${where}/bucket: is required; found nothing`);
    return undefined;
  }
  for (const key of Object.keys(driver).filter((key) => !S3_KEYS.has(key))) {
    warnings.push(`${where}/${key}: accepted but has no effect in Berth`);
  }
  let endpoint: string | undefined;
  if (driver.regionendpoint) {
    // zot (distribution's driver) takes "host:port" and picks the scheme from `secure`.
    endpoint = /^https?:\/\//i.test(driver.regionendpoint) ? driver.regionendpoint : `${driver.secure === false ? 'http' : 'https'}://${driver.regionendpoint}`;
    try {
      new URL(endpoint);
    } catch {
      problems.push(`${where}/regionendpoint: must be a URL or host:port; found ${JSON.stringify(driver.regionendpoint)}`);
    }
  }
  if ((driver.accesskey === undefined) !== (driver.secretkey === undefined)) {
    problems.push(`${where}: accesskey and secretkey go together; found only ${driver.accesskey === undefined ? 'secretkey' : 'accesskey'}`);
  } else if (driver.secretkey !== undefined) {
    warnings.push(`${where}/secretkey: a secret inline in the config file; prefer AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment`);
  }
  return {
    bucket: driver.bucket,
    rootDirectory: (driver.rootdirectory ?? '').replace(/^\/+|\/+$/g, ''),
    region: driver.region || 'us-east-1',
    ...(endpoint ? { endpoint } : {}),
    // As zot: a custom endpoint without the key means path-style addressing.
    forcePathStyle: driver.forcepathstyle ?? endpoint !== undefined,
    skipVerify: driver.skipverify === true,
    ...(driver.accesskey !== undefined ? { accessKey: driver.accesskey, secretKey: driver.secretkey! } : {}),
  };
}

const REDIS_KEYS = new Set(['name', 'url', 'keyprefix', 'addr', 'username', 'password', 'db']);

/** `storage.cacheDriver` or `http.auth.sessionDriver`; `pointer` is where it sits in the file. */
export function readRedisDriver(driver: ZotRedisDriver, pointer: string, file: string, problems: string[], warnings: string[]): RedisConfig | undefined {
  const where = `${file}: ${pointer}`;
  if (driver.name === 'local') return undefined;
  if (driver.name !== 'redis') {
    problems.push(`${where}: not supported by Berth (name ${JSON.stringify(driver.name)}; only "redis")`);
    return undefined;
  }
  for (const key of Object.keys(driver).filter((key) => !REDIS_KEYS.has(key))) {
    warnings.push(`${where}/${key}: accepted but has no effect in Berth`);
  }
  const addresses = driver.addr === undefined ? [] : [driver.addr].flat();
  if (addresses.length > 1) {
    problems.push(`${where}: not supported by Berth (several addresses in addr: one Redis server only, not Redis Cluster or Sentinel)`);
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(driver.url ?? `redis://${addresses[0] ?? ''}`);
    if ((url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '') throw new Error('not a redis URL');
  } catch {
    problems.push(`${where}/url: must be redis://host:port or rediss://host:port; found ${driver.url === undefined ? 'nothing' : '(a value that is not one)'}`);
    return undefined;
  }
  if ([...url.searchParams.keys()].includes('addr')) {
    problems.push(`${where}: not supported by Berth (addr= hosts in url: one Redis server only, not Redis Cluster)`);
    return undefined;
  }
  url.search = '';
  if (driver.username !== undefined) url.username = encodeURIComponent(String(driver.username));
  if (driver.password !== undefined) url.password = encodeURIComponent(String(driver.password));
  if (driver.db !== undefined) url.pathname = `/${driver.db}`;
  if (url.password !== '') {
    warnings.push(`${where}: a Redis password inline in the config file; prefer BERTH_REDIS_PASSWORD in the environment`);
  } else if (process.env.BERTH_REDIS_PASSWORD) {
    url.password = encodeURIComponent(process.env.BERTH_REDIS_PASSWORD);
  }
  return { url: url.toString(), keyPrefix: driver.keyprefix || DEFAULT_KEY_PREFIX };
}
