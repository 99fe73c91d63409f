/**
 * One request body of an S3 upload session, streamed into multipart parts: bytes are hashed as
 * they arrive (hash-wasm, whose state can be saved and resumed by any replica, unlike node:crypto's)
 * and gathered into part buffers of PART_SIZE. Each full buffer is uploaded as the next part while
 * the next one fills (at most one part in flight per request: 2 × PART_SIZE of memory). What is
 * left at the end (less than a part, since S3 wants parts of 5 MiB or more except the last) is
 * handed back to the caller, who stores it as the session's tail or, at commit, as the last part.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { createSHA256, type IHasher } from 'hash-wasm';
import { RegistryError } from '../oci/errors.js';
import type { Bucket } from './s3-bucket.js';
import { isMissing } from './s3-client.js';
import { untilCut, type Cut } from './cut-body.js';

/** Size of every part but the last: above S3's 5 MiB minimum, and what one request may buffer twice. */
export const PART_SIZE = 8 * 1024 * 1024;
/**
 * Parts uploaded at once by one request while the next buffer fills: (PARTS_IN_FLIGHT + 1) ×
 * PART_SIZE of memory per request. One already overlaps hashing with sending; two measured no faster.
 */
const PARTS_IN_FLIGHT = 1;
/** S3's limit of parts in one multipart upload: PART_SIZE × MAX_PARTS (78 GiB) is the largest blob. */
export const MAX_PARTS = 10_000;

export interface UploadedPart {
  partNumber: number;
  etag: string;
  size: number;
}

/** What a coordination record keeps of a session: everything, so that any replica can go on. */
export interface UploadState {
  repository: string;
  /** The multipart upload at `.uploads/<uuid>/data`, created when the first full part is ready. */
  multipartId?: string;
  parts: UploadedPart[];
  partsBytes: number;
  /** Generation `n` of the tail object `.uploads/<uuid>/tail-<n>` (meaningful when tailBytes > 0). */
  tailGeneration: number;
  tailBytes: number;
  /** partsBytes + tailBytes: the session's size. */
  offset: number;
  /**
   * hash-wasm's saved state of the running digest of the first `offset` bytes, base64; '' once a
   * single-request upload was hashed with node:crypto (then only reading the bytes back tells).
   */
  hashState: string;
  hashAlgorithm: 'sha256';
  /** A commit completed the multipart upload: `data` holds all the bytes; no more appends. */
  assembled?: boolean;
  created: number;
  updated: number;
}

/**
 * Free part buffers, reused by the next request rather than allocated (8 MiB each) again. One
 * request's worth: keeping more held 64 MiB for good after a burst of parallel pushes (the bench's
 * RSS per replica); buffers beyond these go back to the allocator.
 */
const freeBuffers: Buffer[] = [];
const MAX_FREE_BUFFERS = PARTS_IN_FLIGHT + 1;

function takeBuffer(): Buffer {
  return freeBuffers.pop() ?? Buffer.allocUnsafeSlow(PART_SIZE);
}

function giveBuffer(buffer: Buffer): void {
  if (freeBuffers.length < MAX_FREE_BUFFERS) freeBuffers.push(buffer);
}

export async function resumeHasher(hashState?: string): Promise<IHasher> {
  const hasher = await createSHA256();
  if (hashState === undefined) hasher.init();
  else hasher.load(Buffer.from(hashState, 'base64'));
  return hasher;
}

export function saveHasher(hasher: IHasher): string {
  return Buffer.from(hasher.save()).toString('base64');
}

export interface ReceivedBody {
  /** The session after the body: parts, offset and hash updated; tail fields still the old ones. */
  next: UploadState;
  /** The bytes after the last part (old tail + new bytes), in a pooled buffer: call `release`. */
  remainder: Buffer;
  release(): void;
  /** The hex SHA-256 of all the session's bytes, the body's included. */
  hex(): Promise<string>;
  /** Set when the body was cut: `next` holds what arrived before; the caller keeps it, then fails. */
  cut?: unknown;
}

export interface BodyTarget {
  bucket: Bucket;
  /** `.uploads/<uuid>/data` */
  dataKey: string;
  /** The current tail's key, when the session has one. */
  tailKey: string | undefined;
  /** Creates the multipart upload and records its id in the saved state; returns the id. */
  startMultipart(): Promise<string>;
}

/**
 * Reads `body` to its end into parts after the saved `state`. Nothing is saved here: on a failure
 * of S3 the caller's saved state still describes the session exactly; parts uploaded meanwhile are
 * overwritten by the retry, whose part numbers start from the same place. A cut body (the client
 * left or went idle) ends the read there: the result says so (`cut`) and describes what arrived.
 */
export async function receiveBody(target: BodyTarget, state: UploadState, body: Readable, options: { resumable: boolean } = { resumable: true }): Promise<ReceivedBody> {
  // A body that is the whole upload (nothing before it, committed at once) needs no state to save:
  // node:crypto hashes it about five times faster than hash-wasm, which is half a push's CPU.
  const single = !options.resumable && state.offset === 0;
  const native = single ? createHash('sha256') : undefined;
  const resumable = native ? undefined : await resumeHasher(state.hashState);
  const update = (chunk: Buffer) => (native ? native.update(chunk) : resumable!.update(chunk));
  const parts = [...state.parts];
  let partsBytes = state.partsBytes;
  let multipartId = state.multipartId;
  let received = 0;

  const owned: Buffer[] = [takeBuffer()];
  const free: Buffer[] = [];
  const inFlight: Array<{ upload: Promise<void>; buffer: Buffer }> = [];
  let fill = owned[0]!;
  let filled = 0;
  let nextPart = parts.length + 1;
  let done = false;
  try {
    if (state.tailBytes > 0) filled = await readTail(target, state.tailBytes, fill);

    const sendPart = async (buffer: Buffer): Promise<void> => {
      while (inFlight.length >= PARTS_IN_FLIGHT) {
        const oldest = inFlight.shift()!;
        await oldest.upload;
        free.push(oldest.buffer);
      }
      const partNumber = nextPart++;
      if (partNumber > MAX_PARTS) throw new RegistryError('BLOB_UPLOAD_INVALID', `an S3 upload holds at most ${MAX_PARTS} parts of ${PART_SIZE} bytes`);
      multipartId ??= await target.startMultipart();
      const upload = target.bucket.uploadPart(target.dataKey, multipartId, partNumber, buffer).then((etag) => {
        parts.push({ partNumber, etag, size: buffer.length });
        partsBytes += buffer.length;
      });
      // Awaited when its buffer is needed again or at the end; until then a failure must not go unhandled.
      upload.catch(() => undefined);
      inFlight.push({ upload, buffer });
    };

    const cut: Cut = {};
    for await (const chunk of untilCut(body, cut)) {
      update(chunk);
      received += chunk.length;
      for (let used = 0; used < chunk.length;) {
        const copied = chunk.copy(fill, filled, used);
        used += copied;
        filled += copied;
        if (filled === PART_SIZE) {
          await sendPart(fill);
          fill = free.pop() ?? takeBuffer();
          if (!owned.includes(fill)) owned.push(fill);
          filled = 0;
        }
      }
    }
    for (const { upload } of inFlight) await upload;
    parts.sort((a, b) => a.partNumber - b.partNumber);
    const remainder = fill.subarray(0, filled);
    const next: UploadState = {
      ...state,
      ...(multipartId === undefined ? {} : { multipartId }),
      parts,
      partsBytes,
      offset: state.offset + received,
      hashState: resumable ? saveHasher(resumable) : '',
      updated: Date.now(),
    };
    done = true;
    const hex = native?.digest('hex');
    return {
      next,
      remainder,
      release: () => owned.forEach(giveBuffer),
      hex: async () => hex ?? (await resumeHasher(next.hashState)).digest('hex'),
      ...(cut.error === undefined ? {} : { cut: cut.error }),
    };
  } finally {
    if (!done) {
      // A part still being sent reads its buffer: only then may the buffers be reused.
      await Promise.allSettled(inFlight.map(({ upload }) => upload));
      owned.forEach(giveBuffer);
    }
  }
}

/** Copies the session's tail object (fewer than PART_SIZE bytes) to the start of `buffer`. */
async function readTail(target: BodyTarget, size: number, buffer: Buffer): Promise<number> {
  let stream;
  try {
    stream = await target.bucket.getStream(target.tailKey!);
  } catch (error) {
    if (isMissing(error)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'the upload session lost its data');
    throw error;
  }
  let filled = 0;
  for await (const chunk of stream.body as AsyncIterable<Buffer>) {
    if (filled + chunk.length > size) throw new Error(`tail ${target.tailKey} holds more than its ${size} bytes`);
    filled += chunk.copy(buffer, filled);
  }
  if (filled !== size) throw new Error(`tail ${target.tailKey} holds ${filled} bytes, not ${size}`);
  return filled;
}
