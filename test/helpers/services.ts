/**
 * The run's S3 and Redis, as test/setup/services.ts provided them, and the S3 housekeeping every
 * S3 test needs: a fresh bucket per test (or file), emptied and deleted after. A run of the `unit`
 * project alone starts no services (test/setup/global.ts): asking for them there is an error.
 *
 *   const bucket = await createBucket();
 *   afterAll(() => emptyAndDeleteBucket(bucket));
 */
import { randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  type ObjectIdentifier,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import type { S3Service, TestServices } from '../setup/services.js';

export type { S3Service, TestServices } from '../setup/services.js';

/** The run's services; a test in test/unit that asks for them is in the wrong folder. */
function services(): TestServices {
  const provided = inject('services') as TestServices | undefined;
  if (!provided) throw new Error('this run started no S3 or Redis (the unit project needs none): a test that needs them belongs outside test/unit');
  return provided;
}

export function s3Service(): S3Service {
  return services().s3;
}

export function redisUrl(): string {
  return services().redisUrl;
}

/** A new client for the run's S3: path-style, its region and keys. The caller may destroy() it. */
export function s3Client(): S3Client {
  const { endpoint, region, accessKey, secretKey } = s3Service();
  return new S3Client({
    endpoint,
    region,
    forcePathStyle: true,
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
  });
}

let shared: S3Client | undefined;
const admin = (): S3Client => (shared ??= s3Client());

/** Creates a bucket named `${prefix}-${16 random hex}` (lower case, at most 63 characters) and returns its name. */
export async function createBucket(prefix = 'berth'): Promise<string> {
  const name = `${prefix.toLowerCase().slice(0, 63 - 17)}-${randomBytes(8).toString('hex')}`;
  await admin().send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

/**
 * Removes a bucket and everything in it: aborts its multipart uploads, deletes every object version
 * and delete marker, then any object left (1,000 a request, following the listings' pages), then the
 * bucket. A bucket that does not exist is not an error.
 */
export async function emptyAndDeleteBucket(name: string): Promise<void> {
  const client = admin();
  try {
    let uploads: { KeyMarker?: string; UploadIdMarker?: string } = {};
    for (;;) {
      const page = await client.send(new ListMultipartUploadsCommand({ Bucket: name, ...uploads }));
      await Promise.all((page.Uploads ?? []).map((upload) => client.send(new AbortMultipartUploadCommand({ Bucket: name, Key: upload.Key, UploadId: upload.UploadId }))));
      if (!page.IsTruncated) break;
      uploads = { KeyMarker: page.NextKeyMarker, UploadIdMarker: page.NextUploadIdMarker };
    }

    let versions: { KeyMarker?: string; VersionIdMarker?: string } = {};
    for (;;) {
      const page = await client.send(new ListObjectVersionsCommand({ Bucket: name, ...versions }));
      await deleteAll(
        client,
        name,
        [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((entry) => ({ Key: entry.Key, VersionId: entry.VersionId })),
      );
      if (!page.IsTruncated) break;
      versions = { KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker };
    }

    // Deleting as we go never skips a page: each listing starts from the top again.
    for (;;) {
      const page = await client.send(new ListObjectsV2Command({ Bucket: name }));
      const keys = (page.Contents ?? []).map((entry) => ({ Key: entry.Key }));
      if (keys.length === 0) break;
      await deleteAll(client, name, keys);
    }

    await client.send(new DeleteBucketCommand({ Bucket: name }));
  } catch (error) {
    if (error instanceof S3ServiceException && error.name === 'NoSuchBucket') return;
    throw error;
  }
}

async function deleteAll(client: S3Client, bucket: string, objects: ObjectIdentifier[]): Promise<void> {
  for (let start = 0; start < objects.length; start += 1000) {
    const result = await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects.slice(start, start + 1000), Quiet: true } }));
    const failed = result.Errors ?? [];
    if (failed.length > 0) {
      throw new Error(`deleting from bucket ${bucket}: ${failed.map((entry) => `${entry.Key}: ${entry.Code} ${entry.Message}`).join('; ')}`);
    }
  }
}
