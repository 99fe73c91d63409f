/**
 * Conformance workflow "Content Management": upstream conformance/04_management_test.go
 * (test04ContentManagement), case by case: deleting a tag, a manifest and blobs.
 * See setup.ts for the upstream revision, the flags and how requests are made.
 */
import { describe, expect, it } from 'vitest';
import { RUN_CONTENT_MANAGEMENT_SETUP, UNSUPPORTED, configs, errorCodes, is2xx, layerBlobContentLength, layerBlobData, layerBlobDigest, manifests, type TagList, useRegistry } from './setup.js';
import { OCI_MANIFEST } from '../helpers/oci.js';

const client = useRegistry();

describe('Content Management', () => {
  const defaultTagName = 'tagtest0';
  let tagToDelete = '';
  let numTags = 0;
  let blobDeleteAllowed = true;

  describe('Setup', () => {
    if (RUN_CONTENT_MANAGEMENT_SETUP) {
      it('Populate registry with test config blob', async () => {
        let req = client.newRequest('POST', '/v2/<name>/blobs/uploads/');
        let resp = await client.do(req);
        req = client
          .newRequest('PUT', resp.relativeLocation())
          .setHeader('Content-Length', configs[3]!.contentLength)
          .setHeader('Content-Type', 'application/octet-stream')
          .setQueryParam('digest', configs[3]!.digest)
          .setBody(configs[3]!.content);
        resp = await client.do(req);
        expect(is2xx(resp.status), resp.describe()).toBe(true);
      });

      it('Populate registry with test layer', async () => {
        let req = client.newRequest('POST', '/v2/<name>/blobs/uploads/');
        let resp = await client.do(req);
        req = client
          .newRequest('PUT', resp.relativeLocation())
          .setQueryParam('digest', layerBlobDigest)
          .setHeader('Content-Type', 'application/octet-stream')
          .setHeader('Content-Length', layerBlobContentLength)
          .setBody(layerBlobData);
        resp = await client.do(req);
        expect(is2xx(resp.status), resp.describe()).toBe(true);
      });

      it('Populate registry with test tag', async () => {
        tagToDelete = defaultTagName;
        const req = client.newRequest('PUT', '/v2/<name>/manifests/<reference>', { reference: tagToDelete }).setHeader('Content-Type', OCI_MANIFEST).setBody(manifests[3]!.content);
        const resp = await client.do(req);
        expect(is2xx(resp.status), resp.describe()).toBe(true);
      });

      it('Check how many tags there are before anything gets deleted', async () => {
        const req = client.newRequest('GET', '/v2/<name>/tags/list');
        const resp = await client.do(req);
        expect(resp.status, resp.describe()).toBe(200);
        const tagList = JSON.parse(resp.text()) as TagList;
        numTags = (tagList.tags ?? []).length;
      });
    }
  });

  describe('Manifest delete', () => {
    it('DELETE request to manifest tag should return 202, unless tag deletion is disallowed (400/405)', async () => {
      const req = client.newRequest('DELETE', '/v2/<name>/manifests/<reference>', { reference: tagToDelete });
      const resp = await client.do(req);
      // 04_management_test.go: 202, or 400 (UNSUPPORTED) / 405 where tag deletion is disallowed.
      expect([400, 202, 405], resp.describe()).toContain(resp.status);
      if (resp.status === 400) {
        const errorResponses = resp.errors();
        expect(errorResponses.length).toBeGreaterThan(0);
        expect(errorResponses[0]!.code).toBe(errorCodes[UNSUPPORTED]);
      }
    });

    it('DELETE request to manifest (digest) should yield 202 response unless already deleted', async () => {
      const req = client.newRequest('DELETE', '/v2/<name>/manifests/<digest>', { digest: manifests[3]!.digest });
      const resp = await client.do(req);
      // In the case that the previous request was accepted, this may or may not fail (which is ok)
      // (04_management_test.go accepts 202 or 404).
      expect([202, 404], resp.describe()).toContain(resp.status);
    });

    it('GET request to deleted manifest URL should yield 404 response, unless delete is disallowed', async () => {
      const req = client.newRequest('GET', '/v2/<name>/manifests/<digest>', { digest: manifests[3]!.digest });
      const resp = await client.do(req);
      // 04_management_test.go accepts 404, or 200 where deletion is disallowed.
      expect([404, 200], resp.describe()).toContain(resp.status);
    });

    it('GET request to tags list should reflect manifest deletion', async () => {
      const req = client.newRequest('GET', '/v2/<name>/tags/list');
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(200);
      const tagList = JSON.parse(resp.text()) as TagList;
      expect((tagList.tags ?? []).length, resp.describe()).toBeLessThan(numTags);
    });
  });

  describe('Blob delete', () => {
    if (RUN_CONTENT_MANAGEMENT_SETUP) {
      it('DELETE request to blob URL should yield 202 response', async () => {
        // config blob; 04_management_test.go accepts 202, 404 or 405.
        let req = client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: configs[3]!.digest });
        let resp = await client.do(req);
        expect([202, 404, 405], resp.describe()).toContain(resp.status);
        // layer blob
        req = client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: layerBlobDigest });
        resp = await client.do(req);
        expect([202, 404, 405], resp.describe()).toContain(resp.status);
        if (resp.status === 405) blobDeleteAllowed = false;
      });

      it('GET request to deleted blob URL should yield 404 response', async () => {
        // RunOnlyIf(blobDeleteAllowed): upstream skips this when the layer delete answered 405.
        if (!blobDeleteAllowed) return;
        const req = client.newRequest('GET', '/v2/<name>/blobs/<digest>', { digest: configs[3]!.digest });
        const resp = await client.do(req);
        expect(resp.status, resp.describe()).toBe(404);
      });
    }
  });

  // g.Context("Teardown"): "No teardown required at this time for content management tests" (no
  // spec, so no describe: vitest refuses an empty one).
});
