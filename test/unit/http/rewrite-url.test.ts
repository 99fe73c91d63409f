import { describe, expect, it } from 'vitest';
import { rewriteRegistryUrl } from '../../../src/http/rewrite-url.js';

describe('rewriteRegistryUrl', () => {
  it.each([
    ['/v2/', '/v2/'],
    ['/v2/_catalog?n=1', '/v2/_catalog?n=1'],
    ['/v2/a/b/manifests/latest', '/v2/a%2Fb/manifests/latest'],
    ['/v2/a/manifests/b/manifests/x', '/v2/a%2Fmanifests%2Fb/manifests/x'],
    ['/v2/a/b/blobs/uploads', '/v2/a%2Fb/blobs/uploads/'],
    ['/v2/a/b/blobs/uploads/?digest=sha256:x', '/v2/a%2Fb/blobs/uploads/?digest=sha256:x'],
    ['/v2/a/b/blobs/uploads/123', '/v2/a%2Fb/blobs/uploads/123'],
    ['/v2/a/blobs/sha256:abc', '/v2/a/blobs/sha256:abc'],
    ['/v2/a/b/tags/list?n=2&last=x', '/v2/a%2Fb/tags/list?n=2&last=x'],
    ['/v2/a/b/referrers/sha256:abc?artifactType=x', '/v2/a%2Fb/referrers/sha256:abc?artifactType=x'],
    ['/v2/a/b', '/v2/a/b'],
    ['/other/a/b/manifests/x', '/other/a/b/manifests/x'],
  ])('%s → %s', (url, expected) => expect(rewriteRegistryUrl(url)).toBe(expected));
});
