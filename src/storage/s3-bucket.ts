/**
 * One bucket and the few S3 calls the store makes, each through `call`, which turns a failure of
 * the object store itself into UNAVAILABLE (s3-client.ts). Absent keys are the callers' to judge.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { isMissing, isNotModified, isPreconditionFailed, toUnavailable } from './s3-client.js';
import { inParallel } from '../coordination/in-parallel.js';

/** S3's limit for CopyObject; a bigger object is copied part by part (UploadPartCopy). */
export const MAX_COPY_OBJECT = 5 * 1024 ** 3;
const MAX_PARTS = 10_000;
const COPY_CONCURRENCY = 4;

/** A part for CompleteMultipartUpload. */
export interface Part {
  PartNumber: number;
  ETag: string;
}

export interface ObjectInfo {
  size: number;
  modifiedMs: number;
  /** From a HEAD (not from a listing). */
  etag?: string;
}

export interface ListedObject extends ObjectInfo {
  key: string;
}

export class Bucket {
  constructor(
    readonly client: S3Client,
    readonly name: string,
  ) {}

  /** Runs one S3 call, turning an unreachable (or misconfigured) store into UNAVAILABLE. */
  async call<T>(request: (client: S3Client) => Promise<T>): Promise<T> {
    try {
      return await request(this.client);
    } catch (error) {
      throw toUnavailable(error) ?? error;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const head = await this.call((client) => client.send(new HeadObjectCommand({ Bucket: this.name, Key: key })));
      return { size: head.ContentLength ?? 0, modifiedMs: head.LastModified?.getTime() ?? 0, ...(head.ETag ? { etag: head.ETag } : {}) };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** The whole object in memory (small objects only); undefined when absent. */
  async getBytes(key: string): Promise<Buffer | undefined> {
    const found = await this.getIfChanged(key);
    return found === undefined || found === 'unchanged' ? undefined : found.bytes;
  }

  /**
   * The whole object (small objects only) with its ETag; 'unchanged' when it still has ETag
   * `cached` (a conditional GET: 304, no body), undefined when absent.
   */
  async getIfChanged(key: string, cached?: string): Promise<{ bytes: Buffer; etag: string | undefined } | 'unchanged' | undefined> {
    try {
      const object = await this.call((client) => client.send(new GetObjectCommand({ Bucket: this.name, Key: key, ...(cached ? { IfNoneMatch: cached } : {}) })));
      const bytes = (await object.Body?.transformToByteArray()) ?? new Uint8Array();
      return { bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), etag: object.ETag };
    } catch (error) {
      if (isNotModified(error)) return 'unchanged';
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** A stream of the object from `start` on; NoSuchKey (see isMissing) when absent. */
  async getStream(key: string, start = 0): Promise<{ body: Readable; etag: string | undefined }> {
    const object = await this.call((client) => client.send(new GetObjectCommand({ Bucket: this.name, Key: key, ...(start > 0 ? { Range: `bytes=${start}-` } : {}) })));
    if (!object.Body) throw new Error(`GetObject ${key} returned no body`);
    // In Node the body is the response stream (an http.IncomingMessage with the SDK's helpers).
    return { body: object.Body as Readable, etag: object.ETag };
  }

  /**
   * Writes the object whole; returns its ETag. `condition`: only over the version with that ETag
   * (`ifMatch`) or only if there is none (`ifNoneMatch: '*'`); else PreconditionFailed (isPreconditionFailed).
   */
  async put(key: string, body: Uint8Array | string, contentType?: string, condition: { ifMatch?: string; ifNoneMatch?: '*' } = {}): Promise<string | undefined> {
    if (condition.ifMatch === undefined) return this.putOnce(key, body, contentType, condition);
    // Ceph (Pacific) matches If-Match on PUT only unquoted, and answers 412 to the quoted ETag that
    // HTTP specifies. So: unquoted first; on 412, quoted once more, but only if the object still has
    // that ETag (a HEAD), so that a real change is never retried over.
    const bare = condition.ifMatch.replace(/^"|"$/g, '');
    try {
      return await this.putOnce(key, body, contentType, { ifMatch: bare });
    } catch (error) {
      if (!isPreconditionFailed(error) || (await this.etagOf(key))?.replace(/^"|"$/g, '') !== bare) throw error;
    }
    return this.putOnce(key, body, contentType, { ifMatch: `"${bare}"` });
  }

  private async etagOf(key: string): Promise<string | undefined> {
    try {
      return (await this.call((client) => client.send(new HeadObjectCommand({ Bucket: this.name, Key: key })))).ETag;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  private async putOnce(key: string, body: Uint8Array | string, contentType: string | undefined, condition: { ifMatch?: string; ifNoneMatch?: '*' }): Promise<string | undefined> {
    const length = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    const result = await this.call((client) =>
      client.send(
        new PutObjectCommand({
          Bucket: this.name,
          Key: key,
          Body: body,
          ContentLength: length,
          ...(contentType ? { ContentType: contentType } : {}),
          ...(condition.ifMatch ? { IfMatch: condition.ifMatch } : {}),
          ...(condition.ifNoneMatch ? { IfNoneMatch: condition.ifNoneMatch } : {}),
        }),
      ),
    );
    return result.ETag;
  }

  /** Deletes `key`; absent is fine (S3 answers 204 either way). */
  async delete(key: string): Promise<void> {
    try {
      await this.call((client) => client.send(new DeleteObjectCommand({ Bucket: this.name, Key: key })));
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }

  /** Every object under `prefix` (all pages). */
  async list(prefix: string): Promise<ListedObject[]> {
    const found: ListedObject[] = [];
    for await (const page of this.pages(prefix)) found.push(...page.objects);
    return found;
  }

  /** Pages of a listing; with `delimiter`, the "folders" one level down too. */
  async *pages(prefix: string, delimiter?: string): AsyncGenerator<{ objects: ListedObject[]; folders: string[] }> {
    let token: string | undefined;
    do {
      const page = await this.call((client) =>
        client.send(new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, ...(delimiter ? { Delimiter: delimiter } : {}), ...(token ? { ContinuationToken: token } : {}) })),
      );
      yield {
        objects: (page.Contents ?? []).flatMap((item) => (item.Key === undefined ? [] : [{ key: item.Key, size: item.Size ?? 0, modifiedMs: item.LastModified?.getTime() ?? 0 }])),
        folders: (page.CommonPrefixes ?? []).flatMap((item) => (item.Prefix === undefined ? [] : [item.Prefix])),
      };
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Multipart uploads in progress under `prefix`: key, upload id and when it began. */
  async multipartUploads(prefix: string): Promise<Array<{ key: string; uploadId: string; initiatedMs: number }>> {
    const found: Array<{ key: string; uploadId: string; initiatedMs: number }> = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.call((client) =>
        client.send(
          new ListMultipartUploadsCommand({ Bucket: this.name, Prefix: prefix, ...(keyMarker ? { KeyMarker: keyMarker } : {}), ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}) }),
        ),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key !== undefined && upload.UploadId !== undefined) found.push({ key: upload.Key, uploadId: upload.UploadId, initiatedMs: upload.Initiated?.getTime() ?? 0 });
      }
      if (!page.IsTruncated || (!page.NextKeyMarker && !page.NextUploadIdMarker)) return found;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  async createMultipart(key: string): Promise<string> {
    const { UploadId } = await this.call((client) => client.send(new CreateMultipartUploadCommand({ Bucket: this.name, Key: key })));
    if (!UploadId) throw new Error(`CreateMultipartUpload ${key} returned no upload id`);
    return UploadId;
  }

  /** Completes a multipart upload. (Ceph Pacific answers with an empty ETag: nothing here uses it.) */
  async completeMultipart(key: string, uploadId: string, parts: Part[]): Promise<void> {
    await this.call((client) => client.send(new CompleteMultipartUploadCommand({ Bucket: this.name, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } })));
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.call((client) => client.send(new AbortMultipartUploadCommand({ Bucket: this.name, Key: key, UploadId: uploadId })));
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }

  /** `CopySource` of `key` in this bucket: bucket/key, URL-encoded segment by segment. */
  copySource(key: string): string {
    return `${this.name}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** Uploads one part; its ETag, which CompleteMultipartUpload needs. */
  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    const result = await this.call((client) => client.send(new UploadPartCommand({ Bucket: this.name, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length })));
    if (!result.ETag) throw new Error(`UploadPart ${partNumber} of ${key} returned no ETag`);
    return result.ETag;
  }

  /** Copies one part of a multipart upload from (a byte range of) `source`, server-side. */
  async copyPart(source: string, target: string, uploadId: string, partNumber: number, range?: { start: number; end: number }): Promise<Part> {
    const result = await this.call((client) =>
      client.send(
        new UploadPartCopyCommand({
          Bucket: this.name,
          Key: target,
          UploadId: uploadId,
          PartNumber: partNumber,
          CopySource: this.copySource(source),
          ...(range ? { CopySourceRange: `bytes=${range.start}-${range.end}` } : {}),
        }),
      ),
    );
    return { PartNumber: partNumber, ETag: result.CopyPartResult?.ETag ?? '' };
  }

  /**
   * Copies `source` to `target` server-side: the copy is a new object with a fresh LastModified.
   * Above `maxCopyObject` (S3's 5 GiB) it goes part by part. NoSuchKey when `source` is absent.
   */
  async copy(source: string, target: string, size: number, options: { maxCopyObject?: number; copyPartSize?: number } = {}): Promise<void> {
    if (size <= (options.maxCopyObject ?? MAX_COPY_OBJECT)) {
      await this.call((client) => client.send(new CopyObjectCommand({ Bucket: this.name, Key: target, CopySource: this.copySource(source) })));
      return;
    }
    const partSize = Math.max(options.copyPartSize ?? 512 * 1024 ** 2, Math.ceil(size / MAX_PARTS));
    const ranges: Array<{ start: number; end: number }> = [];
    for (let start = 0; start < size; start += partSize) ranges.push({ start, end: Math.min(size, start + partSize) - 1 });
    const uploadId = await this.createMultipart(target);
    try {
      const parts: Part[] = new Array<Part>(ranges.length);
      await inParallel(ranges, COPY_CONCURRENCY, async (range, index) => {
        parts[index] = await this.copyPart(source, target, uploadId, index + 1, range);
      });
      await this.completeMultipart(target, uploadId, parts);
    } catch (error) {
      await this.abortMultipart(target, uploadId).catch(() => undefined);
      throw error;
    }
  }
}
