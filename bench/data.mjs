/**
 * Test data: a random in-memory blob whose last 8 bytes are a counter, so every push sends new
 * content without copying or rehashing the whole buffer; and a deterministic pseudo-random stream
 * of any size (AES-128-CTR over zeros) that is never held in memory.
 */
import { createCipheriv, createHash, randomFillSync } from 'node:crypto';
import { Readable } from 'node:stream';

const GENERATE_CHUNK = 1024 * 1024;

/** A `size`-byte random blob; `next()` changes its tail and returns the new sha256 digest. */
export function makeVaryingBlob(size) {
  if (size < 16) throw new Error('blob too small');
  const buffer = Buffer.allocUnsafe(size);
  for (let at = 0; at < size; at += 64 * 1024 * 1024) randomFillSync(buffer, at, Math.min(64 * 1024 * 1024, size - at));
  const body = buffer.subarray(0, size - 8);
  const tail = buffer.subarray(size - 8);
  // Hash everything but the tail once; each variant copies that state and adds its own tail.
  const prefixHash = createHash('sha256').update(body);
  let counter = 0n;
  return {
    buffer,
    size,
    next() {
      counter += 1n;
      tail.writeBigUInt64BE(counter);
      return `sha256:${prefixHash.copy().update(tail).digest('hex')}`;
    },
  };
}

/** A small random blob with its digest. */
export function smallBlob(size) {
  const bytes = randomFillSync(Buffer.allocUnsafe(size));
  return { bytes, digest: sha256(bytes) };
}

/** A minimal image config (a JSON object, as Berth requires) for layers with these diff IDs, as a blob. */
export function imageConfigBlob(diffIds) {
  const bytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, config: {} }));
  return { bytes, digest: sha256(bytes) };
}

export function sha256(bytes) {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function cipherFor(seed) {
  const key = createHash('sha256').update(`berth-bench-key:${seed}`).digest().subarray(0, 16);
  const iv = createHash('sha256').update(`berth-bench-iv:${seed}`).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, iv);
}

/**
 * `size` deterministic pseudo-random bytes as a stream of 1 MiB chunks. `onChunk` sees each chunk
 * (to hash it on the way).
 */
export function pseudoRandomStream(size, seed, onChunk) {
  const zeros = Buffer.alloc(GENERATE_CHUNK);
  const cipher = cipherFor(seed);
  let left = size;
  return Readable.from(
    (function* generate() {
      while (left > 0) {
        const n = Math.min(GENERATE_CHUNK, left);
        left -= n;
        const chunk = cipher.update(n === GENERATE_CHUNK ? zeros : zeros.subarray(0, n));
        onChunk?.(chunk);
        yield chunk;
      }
    })(),
    { objectMode: false, highWaterMark: 4 * GENERATE_CHUNK },
  );
}

/** The sha256 digest of `pseudoRandomStream(size, seed)`, computed without keeping the bytes. */
export function pseudoRandomDigest(size, seed) {
  const zeros = Buffer.alloc(GENERATE_CHUNK);
  const cipher = cipherFor(seed);
  const hash = createHash('sha256');
  for (let left = size; left > 0;) {
    const n = Math.min(GENERATE_CHUNK, left);
    left -= n;
    hash.update(cipher.update(n === GENERATE_CHUNK ? zeros : zeros.subarray(0, n)));
  }
  return `sha256:${hash.digest('hex')}`;
}
