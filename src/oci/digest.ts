/**
 * Content digests: parsing, validation and streaming computation.
 * Spec: https://github.com/opencontainers/image-spec/blob/v1.1.1/descriptor.md#digests
 */
import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from './errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

const ENCODED_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const HEX = /^[a-f0-9]+$/;

/** A validated digest: safe to use as a file name (`algorithm` and `hex` are from a closed grammar). */
export interface Digest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
  /** `algorithm:hex` */
  readonly value: string;
}

export function parseDigest(value: string): Digest | undefined {
  const colon = value.indexOf(':');
  if (colon < 0) return undefined;
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') return undefined;
  if (hex.length !== ENCODED_LENGTH[algorithm] || !HEX.test(hex)) return undefined;
  return { algorithm, hex, value };
}

/** Parses `value` or throws DIGEST_INVALID naming it. */
export function requireDigest(value: string): Digest {
  const digest = parseDigest(value);
  if (!digest) throw new RegistryError('DIGEST_INVALID', { digest: value, reason: 'expected sha256:<64 hex> or sha512:<128 hex>' });
  return digest;
}

export function newHasher(algorithm: DigestAlgorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  const hex = createHash(algorithm).update(bytes).digest('hex');
  return { algorithm, hex, value: `${algorithm}:${hex}` };
}
