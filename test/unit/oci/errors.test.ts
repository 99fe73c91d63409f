import { describe, expect, it } from 'vitest';
import { ERROR_TABLE, RegistryError, type ErrorKey } from '../../../src/oci/errors.js';

/** The codes and statuses distribution-spec v1.1 and distribution (errcode/register.go) use. */
const EXPECTED: Record<ErrorKey, [code: string, status: number]> = {
  BLOB_UNKNOWN: ['BLOB_UNKNOWN', 404],
  BLOB_UPLOAD_INVALID: ['BLOB_UPLOAD_INVALID', 400],
  BLOB_UPLOAD_UNKNOWN: ['BLOB_UPLOAD_UNKNOWN', 404],
  DIGEST_INVALID: ['DIGEST_INVALID', 400],
  MANIFEST_BLOB_UNKNOWN: ['MANIFEST_BLOB_UNKNOWN', 400],
  MANIFEST_INVALID: ['MANIFEST_INVALID', 400],
  MANIFEST_TOO_LARGE: ['SIZE_INVALID', 413],
  MANIFEST_CONFLICT: ['DENIED', 409],
  CLEANUP_REFUSED: ['DENIED', 409],
  MANIFEST_UNKNOWN: ['MANIFEST_UNKNOWN', 404],
  NAME_INVALID: ['NAME_INVALID', 400],
  NAME_UNKNOWN: ['NAME_UNKNOWN', 404],
  TAG_INVALID: ['MANIFEST_INVALID', 400],
  SIZE_INVALID: ['SIZE_INVALID', 400],
  PAGINATION_NUMBER_INVALID: ['PAGINATION_NUMBER_INVALID', 400],
  RANGE_INVALID: ['RANGE_INVALID', 416],
  BLOB_IN_USE: ['DENIED', 405],
  UNAUTHORIZED: ['UNAUTHORIZED', 401],
  DENIED: ['DENIED', 403],
  UNSUPPORTED: ['UNSUPPORTED', 405],
  ROUTE_UNKNOWN: ['NOT_FOUND', 404],
  BODY_INVALID: ['BODY_INVALID', 400],
  HEADERS_TOO_LARGE: ['BODY_INVALID', 431],
  BODY_TOO_LARGE: ['SIZE_INVALID', 413],
  TOOMANYREQUESTS: ['TOOMANYREQUESTS', 429],
  REQUEST_TIMEOUT: ['BODY_INVALID', 408],
  STORAGE_FULL: ['UNKNOWN', 507],
  UNAVAILABLE: ['UNAVAILABLE', 503],
  INTERNAL: ['UNKNOWN', 500],
  UPSTREAM_REFUSED: ['DENIED', 403],
  UPSTREAM_UNAVAILABLE: ['UNAVAILABLE', 502],
  UPSTREAM_INVALID: ['UNKNOWN', 502],
};

describe('the error table', () => {
  it('has exactly the expected rows', () => {
    expect(Object.keys(ERROR_TABLE).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(Object.entries(EXPECTED) as Array<[ErrorKey, [string, number]]>)('%s → %s', (key, [code, status]) => {
    const error = new RegistryError(key, { why: 'test' });
    expect(error.code).toBe(code);
    expect(error.status).toBe(status);
    const body = error.toBody();
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0]!.code).toBe(code);
    expect(body.errors[0]!.message).toBe(ERROR_TABLE[key].message);
    // Internals never leave the process: no detail on 5xx, except which backend is unavailable
    // (Berth's own words: "Redis is unreachable"), which tells a client to retry later, and which
    // upstream failed a pull-through (its URL and status, never a credential).
    const exposed = key === 'UNAVAILABLE' || key.startsWith('UPSTREAM_');
    expect(body.errors[0]!.detail).toEqual(status >= 500 && !exposed ? undefined : { why: 'test' });
  });
});
