import { afterAll, describe, expect, it } from 'vitest';
import { openBackends } from '../../src/backends.js';
import { buildConfig } from '../../src/config/load-config.js';
import { FsStore } from '../../src/storage/fs-store.js';
import { S3Store } from '../../src/storage/s3-store.js';
import { scratchDir } from '../helpers/scratch.js';
import { remoteStorageConfig } from '../helpers/server.js';
import { emptyAndDeleteBucket, redisUrl } from '../helpers/services.js';

const buckets: string[] = [];
afterAll(async () => Promise.all(buckets.map((bucket) => emptyAndDeleteBucket(bucket))));
const log = { info() {}, error() {} };

describe('openBackends', () => {
  it('opens the disk store with in-process coordination when no driver is configured', async () => {
    const backends = await openBackends(buildConfig({ storage: { rootDirectory: await scratchDir('backends') } }, 'f.json'), log);
    try {
      expect(backends.store).toBeInstanceOf(FsStore);
      expect(backends.coordination.shared).toBe(false);
      expect(backends.readiness.map((check) => check.name)).toEqual(['storage']);
      for (const check of backends.readiness) await check.check();
    } finally {
      await backends.close();
    }
  });

  it('opens S3 with Redis, and a second Redis for sessions when sessionDriver names one; readiness checks each', async () => {
    const remote = await remoteStorageConfig();
    buckets.push(remote.bucket);
    const config = buildConfig(
      { storage: { rootDirectory: await scratchDir('backends'), ...remote.storage }, http: { auth: { sessionDriver: { name: 'redis', url: redisUrl(), keyprefix: `${remote.bucket}-sessions` } } } },
      'f.json',
    );
    const backends = await openBackends(config, log);
    try {
      await backends.connect();
      expect(backends.store).toBeInstanceOf(S3Store);
      expect(backends.coordination.shared).toBe(true);
      expect(backends.sessions).not.toBe(backends.coordination);
      expect(backends.readiness.map((check) => check.name)).toEqual([`s3 bucket ${remote.bucket}`, 'redis', 'redis (sessions)']);
      for (const check of backends.readiness) await check.check();
    } finally {
      await backends.close();
    }
  });
});
