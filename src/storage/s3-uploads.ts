/**
 * Upload sessions in S3, continued by any replica: a session's state is a coordination record
 * (s3-upload-body.ts draws it), its bytes are parts of a multipart upload at
 * `<repo>/.uploads/<uuid>/data` plus a tail object of less than a part. Appends, commit and cancel
 * of one session hold the shared lock `upload:<uuid>`. A blob becomes servable only once its digest
 * has been checked, by a copy into `blobs/` under the repository's lock.
 *
 * Spec: https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pushing-blobs-in-chunks
 */
import { createHash, randomInt, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { RegistryError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { Coordination, SharedRecords } from '../coordination/coordination.js';
import { isUploadId, type ObjectKeys } from './layout.js';
import type { Bucket } from './s3-bucket.js';
import { isMissing } from './s3-client.js';
import { receiveBody, resumeHasher, saveHasher, type UploadState } from './s3-upload-body.js';
import type { UploadFile, UploadStore } from './store.js';

/** A session nobody touched for this long is forgotten even if garbage collection never runs. */
const RECORD_TTL_MS = 7 * 24 * 3600 * 1000;
const RECORDS = 's3-uploads';
/** Tail generations are drawn below this (randomInt's limit is 2^48): a collision is never expected. */
const MAX_TAIL_GENERATION = 2 ** 48 - 1;

/** Where a verified blob's bytes are: an object to copy, or bytes in memory. */
export type BlobSource = { copyFrom: string; size: number } | { bytes: Buffer };

export interface S3UploadsOptions {
  bucket: Bucket;
  keys: ObjectKeys;
  coordination: Coordination;
  ensureRepository(name: string): Promise<void>;
  /** Stores a verified blob under the repository's lock (so garbage collection never misses it). */
  placeBlob(name: string, digest: Digest, source: BlobSource): Promise<void>;
}

export class S3Uploads implements UploadStore {
  private readonly bucket: Bucket;
  private readonly keys: ObjectKeys;
  private readonly records: SharedRecords<UploadState>;

  constructor(private readonly options: S3UploadsOptions) {
    this.bucket = options.bucket;
    this.keys = options.keys;
    this.records = options.coordination.records<UploadState>(RECORDS);
  }

  async create(name: string): Promise<{ id: string; offset: number }> {
    await this.options.ensureRepository(name);
    const id = randomUUID();
    // The marker shows the session (and its age) to listUploads, and so to garbage collection.
    await this.bucket.put(this.keys.uploadMarker(name, id), '');
    const now = Date.now();
    const hashState = saveHasher(await resumeHasher());
    await this.save(id, { repository: name, parts: [], partsBytes: 0, tailGeneration: 0, tailBytes: 0, offset: 0, hashState, hashAlgorithm: 'sha256', created: now, updated: now });
    return { id, offset: 0 };
  }

  /** Under the session's lock: a request still saving what a cut body sent is waited for. */
  offset(name: string, id: string): Promise<number> {
    return this.locked(id, async () => (await this.load(name, id)).offset);
  }

  append(name: string, id: string, body: Readable, start?: number): Promise<number> {
    return this.locked(id, async () => {
      const state = await this.load(name, id);
      if (start !== undefined && start !== state.offset) {
        body.resume();
        throw new RegistryError('RANGE_INVALID', { reason: `chunk starts at ${start} but the upload holds ${state.offset} bytes`, offset: state.offset });
      }
      this.assertOpen(state, body);
      const received = await receiveBody(this.target(name, id, state), state, body);
      try {
        // An empty body changes nothing: the tail need not be written again.
        if (received.next.offset !== state.offset) await this.keepTail(name, id, state, received.next, received.remainder);
      } finally {
        received.release();
      }
      // A cut body keeps what arrived (saved above); the request still fails.
      if (received.cut !== undefined) throw received.cut;
      return received.next.offset;
    });
  }

  commit(name: string, id: string, digest: Digest, body?: Readable): Promise<number> {
    return this.locked(id, async () => {
      let state = await this.load(name, id);
      if (body) {
        this.assertOpen(state, body);
        // The whole blob in this one request (a monolithic push): no resumable hash needed.
        const single = state.offset === 0 && digest.algorithm === state.hashAlgorithm;
        const received = await receiveBody(this.target(name, id, state), state, body, { resumable: !single });
        try {
          if (received.cut !== undefined) {
            // Keep what arrived, as an append does; a whole-blob body hashed natively has no state to keep.
            if (!single && received.next.offset !== state.offset) await this.keepTail(name, id, state, received.next, received.remainder);
            throw received.cut;
          }
          const hex = await received.hex();
          if (digest.algorithm === state.hashAlgorithm && hex === digest.hex) {
            // The last bytes go from memory straight to the blob (or the last part): no tail object.
            await this.finish(name, id, digest, received.next, received.remainder);
            return received.next.offset;
          }
          if (single) {
            // Nothing saved: the session is as empty as before (parts sent meanwhile are overwritten by the next append).
            throw new RegistryError('DIGEST_INVALID', { digest: digest.value, reason: `uploaded content has digest ${digest.algorithm}:${hex}` });
          }
          // Keep what was sent, as an append would have; then check (or fail) as without a body.
          state = await this.keepTail(name, id, state, received.next, received.remainder);
        } finally {
          received.release();
        }
      }
      const actual = await this.actualDigest(name, id, state, digest);
      if (actual.hex !== digest.hex) {
        throw new RegistryError('DIGEST_INVALID', { digest: digest.value, reason: `uploaded content has digest ${digest.algorithm}:${actual.hex}` });
      }
      await this.finish(name, id, digest, actual.state, undefined);
      return state.offset;
    });
  }

  cancel(name: string, id: string): Promise<void> {
    return this.locked(id, async () => {
      await this.load(name, id);
      await this.discard(name, id);
    });
  }

  /** Sessions under `<repo>/.uploads/`: marker and tail objects, multipart uploads, records. */
  async list(name: string): Promise<UploadFile[]> {
    const sessions = new Map<string, UploadFile>();
    const see = (id: string | undefined, size: number, modifiedMs: number) => {
      if (id === undefined) return;
      const session = sessions.get(id) ?? { id, size: 0, modifiedMs: 0 };
      session.size += size;
      session.modifiedMs = Math.max(session.modifiedMs, modifiedMs);
      sessions.set(id, session);
    };
    const folder = this.keys.uploads(name);
    const [objects, multiparts] = await Promise.all([this.bucket.list(folder), this.bucket.multipartUploads(folder)]);
    for (const object of objects) see(this.keys.uploadIdOf(name, object.key), object.size, object.modifiedMs);
    for (const upload of multiparts) see(this.keys.uploadIdOf(name, upload.key), 0, upload.initiatedMs);
    // An append of whole parts leaves no object newer than the marker: the record says when it ran.
    await Promise.all(
      [...sessions.values()].map(async (session) => {
        const state = await this.records.get(session.id);
        if (state?.repository !== name) return;
        session.size = state.offset;
        session.modifiedMs = Math.max(session.modifiedMs, state.updated);
      }),
    );
    return [...sessions.values()];
  }

  /**
   * Removes a session (garbage collection, holding the repository's lock). A session whose lock is
   * held is being appended to or committed right now: it is left alone, and waiting for that lock
   * here could deadlock with a commit waiting for the repository's.
   */
  async remove(name: string, id: string): Promise<void> {
    if (!isUploadId(id)) return;
    await this.options.coordination.locks.tryRun(`upload:${id}`, () => this.discard(name, id));
  }

  /** Deletes everything of a session: record first (nobody continues it), multipart uploads, objects. */
  private async discard(name: string, id: string): Promise<void> {
    const state = await this.records.get(id);
    if (state?.repository === name) await this.records.take(id);
    const prefix = this.keys.upload(name, id);
    const uploads = await this.bucket.multipartUploads(prefix);
    if (state?.repository === name && state.multipartId && !uploads.some((upload) => upload.uploadId === state.multipartId)) {
      uploads.push({ key: this.keys.uploadData(name, id), uploadId: state.multipartId, initiatedMs: 0 });
    }
    await Promise.all(uploads.map((upload) => this.bucket.abortMultipart(upload.key, upload.uploadId)));
    await Promise.all((await this.bucket.list(prefix)).map((object) => this.bucket.delete(object.key)));
  }

  private locked<T>(id: string, work: () => Promise<T>): Promise<T> {
    if (!isUploadId(id)) return Promise.reject(new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid: id }));
    return this.options.coordination.locks.run(`upload:${id}`, work);
  }

  private async load(name: string, id: string): Promise<UploadState> {
    if (!isUploadId(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid: id });
    const state = await this.records.get(id);
    if (!state || state.repository !== name) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid: id });
    return state;
  }

  private save(id: string, state: UploadState): Promise<void> {
    return this.records.set(id, state, { ttlMs: RECORD_TTL_MS });
  }

  private assertOpen(state: UploadState, body: Readable): void {
    if (!state.assembled) return;
    body.resume();
    throw new RegistryError('BLOB_UPLOAD_INVALID', 'the upload is being committed: no more data can be appended');
  }

  private target(name: string, id: string, state: UploadState) {
    return {
      bucket: this.bucket,
      dataKey: this.keys.uploadData(name, id),
      tailKey: state.tailBytes > 0 ? this.keys.uploadTail(name, id, state.tailGeneration) : undefined,
      // Saved at once, so that a failure later in this request never loses the upload id.
      startMultipart: async () => {
        const multipartId = await this.bucket.createMultipart(this.keys.uploadData(name, id));
        await this.save(id, { ...state, multipartId, updated: Date.now() });
        state = { ...state, multipartId };
        return multipartId;
      },
    };
  }

  /**
   * Makes `next` the session's saved state with `remainder` as its tail: the new tail object
   * (a new generation, never the old key) first, then the record, then the old tail goes.
   *
   * The generation is random, not the next number: two replicas appending at once (the session's
   * lock expired under one of them) would both write `tail-<n+1>`, and the record saved last could
   * then name the other's bytes, whose digest its hash state does not describe. A tail object is
   * written by one request only, so a record always names bytes its hash state was computed over.
   */
  private async keepTail(name: string, id: string, saved: UploadState, next: UploadState, remainder: Buffer): Promise<UploadState> {
    let generation = randomInt(1, MAX_TAIL_GENERATION);
    if (generation === saved.tailGeneration) generation += 1;
    const tailKey = this.keys.uploadTail(name, id, generation);
    const kept: UploadState = { ...next, tailBytes: remainder.length, tailGeneration: remainder.length > 0 ? generation : saved.tailGeneration };
    if (remainder.length > 0) await this.bucket.put(tailKey, remainder);
    try {
      await this.save(id, kept);
    } catch (error) {
      if (remainder.length > 0) await this.bucket.delete(tailKey).catch(() => undefined);
      throw error;
    }
    if (saved.tailBytes > 0) await this.bucket.delete(this.keys.uploadTail(name, id, saved.tailGeneration)).catch(() => undefined);
    return kept;
  }

  /**
   * The hex digest of the session's bytes: from the running hash for sha256 (its algorithm), else by
   * reading the bytes back (a sha512 push, or a monolithic one whose last step failed and is
   * retried), after assembling the parts into `data` if need be.
   */
  private async actualDigest(name: string, id: string, state: UploadState, digest: Digest): Promise<{ hex: string; state: UploadState }> {
    if (digest.algorithm === state.hashAlgorithm && state.hashState !== '') return { hex: (await resumeHasher(state.hashState)).digest('hex'), state };
    const hash = createHash(digest.algorithm);
    let key: string | undefined;
    if (state.parts.length > 0) {
      if (!state.assembled) state = await this.assemble(name, id, state, undefined);
      key = this.keys.uploadData(name, id);
    } else if (state.tailBytes > 0) {
      key = this.keys.uploadTail(name, id, state.tailGeneration);
    }
    if (key !== undefined) {
      for await (const chunk of (await this.bucket.getStream(key)).body as AsyncIterable<Buffer>) hash.update(chunk);
    }
    return { hex: hash.digest('hex'), state };
  }

  /**
   * Completes the multipart upload into `data`, the tail (or `remainder`, in memory) as its last
   * part, and records that: a commit retried after a later failure goes on from there.
   */
  private async assemble(name: string, id: string, state: UploadState, remainder: Buffer | undefined): Promise<UploadState> {
    const dataKey = this.keys.uploadData(name, id);
    const parts = state.parts.map((part) => ({ PartNumber: part.partNumber, ETag: part.etag }));
    const partNumber = state.parts.length + 1;
    if (remainder && remainder.length > 0) {
      parts.push({ PartNumber: partNumber, ETag: await this.bucket.uploadPart(dataKey, state.multipartId!, partNumber, remainder) });
    } else if (!remainder && state.tailBytes > 0) {
      parts.push(await this.bucket.copyPart(this.keys.uploadTail(name, id, state.tailGeneration), dataKey, state.multipartId!, partNumber));
    }
    try {
      await this.bucket.completeMultipart(dataKey, state.multipartId!, parts);
    } catch (error) {
      if (isMissing(error)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid: id, reason: 'the multipart upload is gone' });
      throw error;
    }
    const assembled: UploadState = { ...state, assembled: true, updated: Date.now() };
    await this.save(id, assembled);
    return assembled;
  }

  /** Places the verified bytes as the blob, then removes the session. `remainder`: last bytes in memory. */
  private async finish(name: string, id: string, digest: Digest, state: UploadState, remainder: Buffer | undefined): Promise<void> {
    let assembled = state.assembled === true;
    if (!assembled && state.multipartId !== undefined && state.parts.length > 0) {
      await this.assemble(name, id, state, remainder);
      assembled = true;
    }
    let source: BlobSource;
    if (assembled) source = { copyFrom: this.keys.uploadData(name, id), size: state.offset };
    else if (remainder !== undefined || state.tailBytes === 0) source = { bytes: remainder ?? Buffer.alloc(0) };
    else source = { copyFrom: this.keys.uploadTail(name, id, state.tailGeneration), size: state.tailBytes };
    await this.options.placeBlob(name, digest, source);

    // The blob is in place. The session's objects are known from its state: no listing. Whatever
    // is left (an orphan of an interrupted request) is under .uploads/, where garbage collection looks.
    await this.records.take(id);
    const debris = [this.keys.uploadMarker(name, id)];
    if (state.tailBytes > 0) debris.push(this.keys.uploadTail(name, id, state.tailGeneration));
    if (assembled) debris.push(this.keys.uploadData(name, id));
    await Promise.all([
      ...debris.map((key) => this.bucket.delete(key)),
      // A multipart upload whose first part never made it (the blob was small after all).
      ...(!assembled && state.multipartId !== undefined ? [this.bucket.abortMultipart(this.keys.uploadData(name, id), state.multipartId)] : []),
    ]).catch(() => undefined);
  }
}
