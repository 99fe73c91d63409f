/**
 * The one table of registry errors. Every failure the registry reports is a row here: the OCI
 * distribution-spec code sent to clients, the HTTP status that goes with it, and the default
 * message. Spec: https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#error-codes
 *
 * Rows are keyed by what went wrong, so two situations may share an OCI code with different
 * statuses (an out-of-order chunk and a bad blob range are both RANGE_INVALID / 416).
 */
export const ERROR_TABLE = {
  BLOB_UNKNOWN: { code: 'BLOB_UNKNOWN', status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { code: 'BLOB_UPLOAD_INVALID', status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { code: 'BLOB_UPLOAD_UNKNOWN', status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { code: 'DIGEST_INVALID', status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { code: 'MANIFEST_BLOB_UNKNOWN', status: 400, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { code: 'MANIFEST_INVALID', status: 400, message: 'manifest invalid' },
  MANIFEST_TOO_LARGE: { code: 'SIZE_INVALID', status: 413, message: 'manifest exceeds the size limit' },
  MANIFEST_CONFLICT: { code: 'DENIED', status: 409, message: 'several tags point to this manifest; delete them by tag' },
  // A cleanup of untagged manifests (or of a repository without tags) that would remove what a tag still needs.
  CLEANUP_REFUSED: { code: 'DENIED', status: 409, message: 'nothing was deleted: the repository still has tags, or what a tag needs is unknown' },
  MANIFEST_UNKNOWN: { code: 'MANIFEST_UNKNOWN', status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { code: 'NAME_INVALID', status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { code: 'NAME_UNKNOWN', status: 404, message: 'repository name not known to registry' },
  TAG_INVALID: { code: 'MANIFEST_INVALID', status: 400, message: 'invalid tag' },
  SIZE_INVALID: { code: 'SIZE_INVALID', status: 400, message: 'provided length did not match content length' },
  PAGINATION_NUMBER_INVALID: { code: 'PAGINATION_NUMBER_INVALID', status: 400, message: 'invalid number of results requested' },
  RANGE_INVALID: { code: 'RANGE_INVALID', status: 416, message: 'invalid content range' },
  BLOB_IN_USE: { code: 'DENIED', status: 405, message: 'blob is referenced by a manifest in this repository' },
  UNAUTHORIZED: { code: 'UNAUTHORIZED', status: 401, message: 'authentication required' },
  DENIED: { code: 'DENIED', status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { code: 'UNSUPPORTED', status: 405, message: 'the operation is unsupported' },
  ROUTE_UNKNOWN: { code: 'NOT_FOUND', status: 404, message: 'no such endpoint' },
  BODY_INVALID: { code: 'BODY_INVALID', status: 400, message: 'request body or parameters invalid' },
  BODY_TOO_LARGE: { code: 'SIZE_INVALID', status: 413, message: 'request body too large' },
  HEADERS_TOO_LARGE: { code: 'BODY_INVALID', status: 431, message: 'request headers are too large' },
  TOOMANYREQUESTS: { code: 'TOOMANYREQUESTS', status: 429, message: 'too many requests' },
  REQUEST_TIMEOUT: { code: 'BODY_INVALID', status: 408, message: 'the request body did not arrive in time' },
  STORAGE_FULL: { code: 'UNKNOWN', status: 507, message: 'insufficient storage' },
  // Which backend is away (Redis, object storage) tells the client and the operator what to wait
  // for; its detail is always Berth's own words, never an internal error's message.
  UNAVAILABLE: { code: 'UNAVAILABLE', status: 503, message: 'service unavailable', exposeDetail: true },
  INTERNAL: { code: 'UNKNOWN', status: 500, message: 'internal server error' },
  // The pull-through cache's upstream (its detail names the upstream and what it said; never a credential).
  UPSTREAM_REFUSED: { code: 'DENIED', status: 403, message: 'the upstream registry refused Berth', exposeDetail: true },
  UPSTREAM_UNAVAILABLE: { code: 'UNAVAILABLE', status: 502, message: 'the upstream registry could not be reached', exposeDetail: true },
  UPSTREAM_INVALID: { code: 'UNKNOWN', status: 502, message: 'the upstream registry sent content that does not match its digest', exposeDetail: true },
} as const satisfies Record<string, { code: string; status: number; message: string; exposeDetail?: true }>;

export type ErrorKey = keyof typeof ERROR_TABLE;

/** A failure the registry reports to its client; `detail` is sent only for statuses below 500 (and rows that expose it). */
export class RegistryError extends Error {
  readonly key: ErrorKey;
  readonly detail: unknown;

  constructor(key: ErrorKey, detail?: unknown, options?: { cause?: unknown }) {
    super(typeof detail === 'string' ? `${ERROR_TABLE[key].message}: ${detail}` : ERROR_TABLE[key].message, options);
    this.name = 'RegistryError';
    this.key = key;
    this.detail = detail;
  }

  get status(): number {
    return ERROR_TABLE[this.key].status;
  }

  get code(): string {
    return ERROR_TABLE[this.key].code;
  }

  /** The spec's error body. Internals never leave the process: 5xx carry no detail. */
  toBody(): { errors: Array<{ code: string; message: string; detail?: unknown }> } {
    const row = ERROR_TABLE[this.key];
    const entry: { code: string; message: string; detail?: unknown } = { code: row.code, message: row.message };
    if ((row.status < 500 || 'exposeDetail' in row) && this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry] };
  }
}

/** Whether `error` is the registry's error `key` (a missing repository, an unknown blob…). */
export function isErrorKey(error: unknown, key: ErrorKey): error is RegistryError {
  return error instanceof RegistryError && error.key === key;
}
