/**
 * The test provider's one ID-token signing key, made the way Pocket ID makes its own
 * (backend/internal/cmds/key_rotate.go, utils/jwk): one key at a time, a random 8-byte `kid`
 * (base64url), `use: sig`, and one of the algorithms `pocket-id key-rotate --alg` accepts (RS256 by
 * default, RSA-2048). Rotating replaces the key: the JWKS and discovery then name only the new one.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import type { JWK } from 'oidc-provider';

/** What `pocket-id key-rotate --alg` accepts (EdDSA with `--crv Ed25519`). */
export const SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

const CURVES: Partial<Record<SigningAlg, string>> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };

/** The fields of a JWK that are private; what remains is what the JWKS publishes. */
const PRIVATE_FIELDS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi']);

export interface SigningKey {
  alg: SigningAlg;
  kid: string;
  /** The whole key, for oidc-provider's `jwks` configuration. */
  privateJwk: JWK;
  /** What the JWKS publishes. */
  publicJwk: JWK;
}

function keyPair(alg: SigningAlg): KeyObject {
  if (alg.startsWith('RS')) return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  if (alg === 'EdDSA') return generateKeyPairSync('ed25519').privateKey;
  return generateKeyPairSync('ec', { namedCurve: CURVES[alg]! }).privateKey;
}

/** A new signing key; `kid` defaults to a random one (pass the old kid to replace a key under the same id). */
export function generateSigningKey(alg: SigningAlg = 'RS256', kid = randomBytes(8).toString('base64url')): SigningKey {
  if (!SIGNING_ALGS.includes(alg)) throw new Error(`unsupported key algorithm ${String(alg)}; supported values: ${SIGNING_ALGS.join(', ')}`);
  const privateJwk: JWK = { ...keyPair(alg).export({ format: 'jwk' }), kid, alg, use: 'sig' };
  const publicJwk = Object.fromEntries(Object.entries(privateJwk).filter(([field]) => !PRIVATE_FIELDS.has(field))) as JWK;
  return { alg, kid, privateJwk, publicJwk };
}
