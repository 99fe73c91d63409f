/**
 * The S3 connection: the client, built from the config's S3StorageConfig as it is, and one place
 * that turns S3's failures into domain ones:
 * "no such key" is for the caller to decide, an unreachable endpoint is UNAVAILABLE (503).
 * The calls the store makes are in s3-bucket.ts.
 */
import http from 'node:http';
import https from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import type { S3StorageConfig } from '../config/config.js';
import { RegistryError } from '../oci/errors.js';

/** What the client takes beyond the config: not zot.json's, for tests. */
export interface S3ClientOptions {
  /** How long a socket to the endpoint may stay silent before the call fails (default 30 s; tests shorten it). */
  idleTimeoutMs?: number;
}

/** Sockets kept open to the endpoint: uploads run one part request each, downloads one stream each. */
const MAX_SOCKETS = 64;
/**
 * A store that accepts a request and never answers (a full Ceph cluster blocks writes) must not
 * hold a repository lock forever: a call whose socket stays silent this long fails as UNAVAILABLE.
 * Silence, not duration: a long blob transfer that keeps moving is never cut.
 */
const IDLE_TIMEOUT_MS = 30_000;

/** A client for the bucket `settings` names; its endpoint is an absolute URL (the config made it one). */
export function createS3Client(settings: S3StorageConfig, options: S3ClientOptions = {}): S3Client {
  const agentOptions = { keepAlive: true, maxSockets: MAX_SOCKETS };
  const { endpoint } = settings;
  return new S3Client({
    region: settings.region,
    ...(endpoint === undefined ? {} : { endpoint }),
    forcePathStyle: settings.forcePathStyle,
    ...(settings.accessKey !== undefined && settings.secretKey !== undefined ? { credentials: { accessKeyId: settings.accessKey, secretAccessKey: settings.secretKey } } : {}),
    // Checksums only where S3 demands one: blobs are verified by their digest already, and
    // S3-compatible stores (Ceph Pacific) refuse the aws-chunked trailers the SDK sends otherwise.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // NodeHttpHandler's options, passed as a plain object: no direct dependency on @smithy/*.
    requestHandler: {
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent({ ...agentOptions, rejectUnauthorized: !settings.skipVerify }),
      connectionTimeout: 10_000,
      socketTimeout: options.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
    },
  });
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED']);
const CREDENTIAL_ERRORS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'CredentialsProviderError', 'ExpiredToken', 'InvalidToken']);

interface SdkError {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** The key (or upload) is not there: the caller decides what that means. */
export function isMissing(error: unknown): boolean {
  const { name, $metadata } = (error ?? {}) as SdkError;
  return name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchUpload' || ($metadata?.httpStatusCode === 404 && name !== 'NoSuchBucket');
}

/**
 * A conditional write (If-Match / If-None-Match) found the object other than expected: 412, or
 * 409 ConditionalRequestConflict when another conditional write to the key was in progress (AWS).
 */
export function isPreconditionFailed(error: unknown): boolean {
  const { name, $metadata } = (error ?? {}) as SdkError;
  return name === 'PreconditionFailed' || name === 'ConditionalRequestConflict' || $metadata?.httpStatusCode === 412 || $metadata?.httpStatusCode === 409;
}

export function isNotModified(error: unknown): boolean {
  return (error as SdkError | undefined)?.$metadata?.httpStatusCode === 304;
}

/**
 * UNAVAILABLE for a failure that is the object store's, not the request's: unreachable, overloaded,
 * misconfigured (bucket, credentials). Messages name the failure only, never a credential.
 */
export function toUnavailable(error: unknown): RegistryError | undefined {
  const { name = '', code = '', $metadata } = (error ?? {}) as SdkError;
  if (NETWORK_CODES.has(code) || name === 'TimeoutError') {
    return new RegistryError('UNAVAILABLE', `object storage is unreachable: ${code || name}`, { cause: error });
  }
  // Without a cause: the SDK's exception for these carries the access key id and the string signed.
  if (name === 'NoSuchBucket') return new RegistryError('UNAVAILABLE', 'object storage bucket does not exist');
  const status = $metadata?.httpStatusCode ?? 0;
  // A HEAD's 403 has no body, hence no error name: the status says it.
  if (CREDENTIAL_ERRORS.has(name) || status === 401 || status === 403) {
    return new RegistryError('UNAVAILABLE', `object storage refused the credentials: ${CREDENTIAL_ERRORS.has(name) ? name : status}`);
  }
  if (status >= 500) return new RegistryError('UNAVAILABLE', `object storage failed: ${status} ${name}`);
  return undefined;
}
