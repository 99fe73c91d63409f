/**
 * Conformance workflow "Pull": upstream conformance/01_pull_test.go (test01Pull), case by case.
 * See setup.ts for the upstream revision, the flags and how requests are made.
 */
import { describe, expect, it } from 'vitest';
import {
  DELETE_MANIFEST_BEFORE_BLOBS,
  ENV_TAG_NAME,
  RUN_PULL_SETUP,
  configs,
  dummyDigest,
  errorCodes,
  invalidManifestContent,
  is2xx,
  layerBlobContentLength,
  layerBlobData,
  layerBlobDigest,
  manifests,
  nonexistentManifest,
  testTagName,
  type TestBlob,
  populateBlob,
  deleteBlobAllowingAbsence,
  useRegistry,
} from './setup.js';
import { OCI_MANIFEST } from '../helpers/oci.js';

const client = useRegistry();

/** Teardown: delete a manifest by digest; 2xx, or 405 where deletion is disallowed (01_pull_test.go). */
async function deleteManifest(manifest: TestBlob): Promise<void> {
  const req = client.newRequest('DELETE', '/v2/<name>/manifests/<digest>', { digest: manifest.digest });
  const resp = await client.do(req);
  expect(is2xx(resp.status) || resp.status === 405, resp.describe()).toBe(true);
}

describe('Pull', () => {
  let tag = '';

  describe('Setup', () => {
    if (RUN_PULL_SETUP) {
      it('Populate registry with test blob', async () => {
        await populateBlob(client, configs[0]!.digest, configs[0]!.contentLength, configs[0]!.content);
      });

      it('Populate registry with test blob', async () => {
        await populateBlob(client, configs[1]!.digest, configs[1]!.contentLength, configs[1]!.content);
      });

      it('Populate registry with test layer', async () => {
        await populateBlob(client, layerBlobDigest, layerBlobContentLength, layerBlobData);
      });

      it('Populate registry with test manifest', async () => {
        tag = testTagName;
        const req = client.newRequest('PUT', '/v2/<name>/manifests/<reference>', { reference: tag }).setHeader('Content-Type', OCI_MANIFEST).setBody(manifests[0]!.content);
        const resp = await client.do(req);
        expect(is2xx(resp.status), resp.describe()).toBe(true);
      });

      it('Populate registry with test manifest', async () => {
        const req = client.newRequest('PUT', '/v2/<name>/manifests/<reference>', { reference: manifests[1]!.digest }).setHeader('Content-Type', OCI_MANIFEST).setBody(manifests[1]!.content);
        const resp = await client.do(req);
        expect(is2xx(resp.status), resp.describe()).toBe(true);
      });
    } else {
      // RunOnlyIfNot(runPullSetup): only when OCI_TAG_NAME & co. point at existing content.
      it('Get tag name from environment', () => {
        if (ENV_TAG_NAME) tag = ENV_TAG_NAME;
      });
    }
  });

  describe('Pull blobs', () => {
    it('HEAD request to nonexistent blob should result in 404 response', async () => {
      const req = client.newRequest('HEAD', '/v2/<name>/blobs/<digest>', { digest: dummyDigest });
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(404);
    });

    it('HEAD request to existing blob should yield 200', async () => {
      const req = client.newRequest('HEAD', '/v2/<name>/blobs/<digest>', { digest: configs[0]!.digest });
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(200);
      // Upstream checks Docker-Content-Digest only when the registry sends it.
      const h = resp.header('Docker-Content-Digest');
      if (h !== '') expect(h).toBe(configs[0]!.digest);
    });

    it('GET nonexistent blob should result in 404 response', async () => {
      const req = client.newRequest('GET', '/v2/<name>/blobs/<digest>', { digest: dummyDigest });
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(404);
    });

    it('GET request to existing blob URL should yield 200', async () => {
      const req = client.newRequest('GET', '/v2/<name>/blobs/<digest>', { digest: configs[0]!.digest });
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(200);
    });
  });

  describe('Pull manifests', () => {
    it('HEAD request to nonexistent manifest should return 404', async () => {
      const req = client.newRequest('HEAD', '/v2/<name>/manifests/<reference>', { reference: nonexistentManifest });
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(404);
    });

    it('HEAD request to manifest[0] path (digest) should yield 200 response', async () => {
      const req = client.newRequest('HEAD', '/v2/<name>/manifests/<digest>', { digest: manifests[0]!.digest }).setHeader('Accept', OCI_MANIFEST);
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(200);
      const h = resp.header('Docker-Content-Digest');
      if (h !== '') expect(h).toBe(manifests[0]!.digest);
    });

    it('HEAD request to manifest[1] path (digest) should yield 200 response', async () => {
      const req = client.newRequest('HEAD', '/v2/<name>/manifests/<digest>', { digest: manifests[1]!.digest }).setHeader('Accept', OCI_MANIFEST);
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(200);
      const h = resp.header('Docker-Content-Digest');
      if (h !== '') expect(h).toBe(manifests[1]!.digest);
    });

    it('HEAD request to manifest path (tag) should yield 200 response', async () => {
      expect(tag).not.toBe('');
      const req = client.newRequest('HEAD', '/v2/<name>/manifests/<reference>', { reference: tag }).setHeader('Accept', OCI_MANIFEST);
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(200);
      const h = resp.header('Docker-Content-Digest');
      if (h !== '') expect(h).toBe(manifests[0]!.digest);
    });

    it('GET nonexistent manifest should return 404', async () => {
      const req = client.newRequest('GET', '/v2/<name>/manifests/<reference>', { reference: nonexistentManifest });
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(404);
    });

    it('GET request to manifest[0] path (digest) should yield 200 response', async () => {
      const req = client.newRequest('GET', '/v2/<name>/manifests/<digest>', { digest: manifests[0]!.digest }).setHeader('Accept', OCI_MANIFEST);
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(200);
    });

    it('GET request to manifest[1] path (digest) should yield 200 response', async () => {
      const req = client.newRequest('GET', '/v2/<name>/manifests/<digest>', { digest: manifests[1]!.digest }).setHeader('Accept', OCI_MANIFEST);
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(200);
    });

    it('GET request to manifest path (tag) should yield 200 response', async () => {
      expect(tag).not.toBe('');
      const req = client.newRequest('GET', '/v2/<name>/manifests/<reference>', { reference: tag }).setHeader('Accept', OCI_MANIFEST);
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(200);
    });
  });

  describe('Error codes', () => {
    it('400 response body should contain OCI-conforming JSON message', async () => {
      // The Content-Type and body are set as upstream sets them; resty drops a GET's body (setup.ts).
      const req = client.newRequest('GET', '/v2/<name>/manifests/<reference>', { reference: 'sha256:totallywrong' }).setHeader('Content-Type', OCI_MANIFEST).setBody(invalidManifestContent);
      const resp = await client.do(req);
      // 01_pull_test.go accepts 400 or 404 (spec: an invalid digest is a 400 with an error body).
      expect([400, 404], resp.describe()).toContain(resp.status);
      if (resp.status === 400) {
        const errorResponses = resp.errors();
        expect(errorResponses.length).toBeGreaterThan(0);
        expect(errorCodes).toContain(errorResponses[0]!.code);
      }
    });
  });

  describe('Teardown', () => {
    if (RUN_PULL_SETUP) {
      if (DELETE_MANIFEST_BEFORE_BLOBS) {
        // 01_pull_test.go: 2xx, or 405 where manifest deletion is disallowed.
        it('Delete manifest[0] created in setup', async () => {
          await deleteManifest(manifests[0]!);
        });
        it('Delete manifest[1] created in setup', async () => {
          await deleteManifest(manifests[1]!);
        });
      }

      // 01_pull_test.go: 2xx, 404 or 405.
      it('Delete config[0] blob created in setup', async () => {
        await deleteBlobAllowingAbsence(client, configs[0]!.digest);
      });
      it('Delete config[1] blob created in setup', async () => {
        await deleteBlobAllowingAbsence(client, configs[1]!.digest);
      });

      it('Delete layer blob created in setup', async () => {
        await deleteBlobAllowingAbsence(client, layerBlobDigest);
      });

      if (!DELETE_MANIFEST_BEFORE_BLOBS) {
        it('Delete manifest[0] created in setup', async () => {
          await deleteManifest(manifests[0]!);
        });
        it('Delete manifest[1] created in setup', async () => {
          await deleteManifest(manifests[1]!);
        });
      }
    }
  });
});
