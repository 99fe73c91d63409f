/**
 * The test services of test/setup/services.ts work: S3 (Ceph RGW unless BERTH_TEST_S3_* says
 * otherwise) stores and returns an object in a fresh bucket that is then removed, the run's Redis
 * answers, and startRedis() gives a test a Redis it can crash and bring back on the same port.
 */
import { randomBytes } from 'node:crypto';
import { GetObjectCommand, HeadBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pingRedis, type RedisServer, startRedis } from '../helpers/redis-server.js';
import { createBucket, emptyAndDeleteBucket, redisUrl, s3Client, s3Service } from '../helpers/services.js';

/** A client that fails at once instead of queueing and reconnecting while the server is away. */
function connect(url: string): Redis {
  return new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
}

describe('S3 service', () => {
  let client: S3Client;
  beforeAll(() => {
    client = s3Client();
  });
  afterAll(() => client.destroy());

  it('is provided with path-style settings', () => {
    const s3 = s3Service();
    expect(s3.endpoint).toMatch(/^https?:\/\//);
    expect(s3.region).toBe('us-east-1');
    expect(s3.accessKey).not.toBe('');
    expect(s3.secretKey).not.toBe('');
  });

  it('round-trips an object in a fresh bucket, then removes the bucket with its contents', async () => {
    const bucket = await createBucket('services');
    expect(bucket).toMatch(/^services-[0-9a-f]{16}$/);
    try {
      const body = randomBytes(256 * 1024);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'a/blob', Body: body }));
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'a/blob', Body: 'overwritten' }));
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'b', Body: body }));
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'b' }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
      const again = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'a/blob' }));
      expect(await again.Body!.transformToString()).toBe('overwritten');
    } finally {
      await emptyAndDeleteBucket(bucket);
    }
    await expect(client.send(new HeadBucketCommand({ Bucket: bucket }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    await emptyAndDeleteBucket(bucket); // gone already: not an error
  });
});

describe('Redis service', () => {
  it('answers PING, SET and GET', async () => {
    const redis = connect(redisUrl());
    try {
      await redis.connect();
      expect(await redis.ping()).toBe('PONG');
      const key = `services-test:${randomBytes(8).toString('hex')}`;
      expect(await redis.set(key, 'value', 'EX', 60)).toBe('OK');
      expect(await redis.get(key)).toBe('value');
      await redis.del(key);
    } finally {
      redis.disconnect();
    }
  });
});

describe('startRedis', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(() => server.stop());

  it('is killed and restarted on the same port, empty', async () => {
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    const before = connect(server.url);
    await before.connect();
    await before.set('k', 'v');
    expect(await before.get('k')).toBe('v');

    await server.kill();
    expect(await pingRedis(server.port)).toBe(false);
    await expect(before.ping()).rejects.toThrow();
    before.disconnect();

    await server.restart();
    const after = connect(server.url);
    try {
      await after.connect();
      expect(await after.ping()).toBe('PONG');
      expect(await after.get('k')).toBeNull();
    } finally {
      after.disconnect();
    }

    await server.stop();
    expect(await pingRedis(server.port)).toBe(false);
    await server.stop(); // idempotent
    await server.restart(); // after stop() too
    expect(await pingRedis(server.port)).toBe(true);
  });
});
