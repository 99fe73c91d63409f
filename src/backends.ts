/**
 * Opens what a config's registry lives on: blobs and manifests on the local disk or in an S3
 * bucket, and the state replicas share (locks, upload sessions, browser sessions, API keys) in
 * this process or in Redis. The one place that turns zot's storageDriver/cacheDriver/sessionDriver
 * into objects.
 */
import type { BerthConfig, RedisConfig } from './config/config.js';
import type { Coordination } from './coordination/coordination.js';
import type { RedisCoordination } from './coordination/redis-coordination.js';
import { localCoordination } from './storage/file-records.js';
import { FsStore } from './storage/fs-store.js';
import type { Store } from './storage/store.js';

export interface BackendLog {
  info(message: string): void;
  error(message: string): void;
}

export interface Backends {
  store: Store;
  /** Locks and upload sessions of the store (`storage.cacheDriver`). */
  coordination: Coordination;
  /** Browser sessions, users and API keys (`http.auth.sessionDriver`, else `storage.cacheDriver`). */
  sessions: Coordination;
  /** What /readyz checks, by name. */
  readiness: Array<{ name: string; check(): Promise<void> }>;
  /** Waits for the first connection attempt to each Redis (never throws: reads work without it). */
  connect(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The AWS SDK and ioredis are loaded only when the config asks for S3 or Redis: a registry on a
 * disk does without their memory (tens of MB) and start-up time.
 */
export async function openBackends(config: BerthConfig, log: BackendLog): Promise<Backends> {
  const { storage } = config;
  const clients = new Map<string, RedisCoordination>();
  const { RedisCoordination: Redis } = storage.redis || config.http.auth.sessionRedis ? await import('./coordination/redis-coordination.js') : { RedisCoordination: undefined };
  const redis = (settings: RedisConfig): RedisCoordination => {
    const key = `${settings.url}\0${settings.keyPrefix}`;
    let client = clients.get(key);
    if (!client) {
      client = new Redis!({ url: settings.url, keyPrefix: settings.keyPrefix, log });
      clients.set(key, client);
    }
    return client;
  };
  const local = localCoordination(storage.rootDirectory);
  const coordination = storage.redis ? redis(storage.redis) : local;
  const sessionSettings = config.http.auth.sessionRedis ?? storage.redis;
  const sessions = sessionSettings ? redis(sessionSettings) : local;

  let store: Store;
  if (storage.s3) {
    const [{ createS3Client }, { S3Store }] = await Promise.all([import('./storage/s3-client.js'), import('./storage/s3-store.js')]);
    store = new S3Store({ client: createS3Client(storage.s3), settings: storage.s3, coordination });
  } else {
    store = new FsStore(storage.rootDirectory, { dedupe: storage.dedupe });
  }

  const readiness = [{ name: storage.s3 ? `s3 bucket ${storage.s3.bucket}` : 'storage', check: () => store.checkWritable() }];
  // One line per Redis: `redis`, and `redis (sessions)` when sessionDriver names another one.
  for (const client of new Set([coordination, sessions])) {
    if (!client.shared) continue;
    readiness.push({ name: client === coordination || !storage.redis ? 'redis' : 'redis (sessions)', check: () => client.check() });
  }
  return {
    store,
    coordination,
    sessions,
    readiness,
    async connect() {
      await Promise.all([...clients.values()].map((client) => client.connect()));
    },
    async close() {
      await store.close();
      await Promise.all([...clients.values()].map((client) => client.close()));
    },
  };
}
