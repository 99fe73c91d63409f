/**
 * Conformance workflow "Content Discovery": upstream conformance/03_discovery_test.go
 * (test03ContentDiscovery), case by case: tag listing with `n` / `last`, and the referrers API.
 * See setup.ts for the upstream revision, the flags and how requests are made.
 */
import { describe, expect, it } from 'vitest';
import {
  DELETE_MANIFEST_BEFORE_BLOBS,
  ENV_TAG_LIST,
  RUN_CONTENT_DISCOVERY_SETUP,
  artifactTypeFilter,
  configs,
  dummyDigest,
  emptyJSONBlob,
  emptyJSONDescriptor,
  getTagList,
  is2xx,
  layerBlobContentLength,
  layerBlobData,
  layerBlobDigest,
  manifests,
  refsIndexArtifactContent,
  refsIndexArtifactDigest,
  refsManifestAConfigArtifactContent,
  refsManifestAConfigArtifactDigest,
  refsManifestALayerArtifactContent,
  refsManifestALayerArtifactDigest,
  refsManifestBConfigArtifactContent,
  refsManifestBConfigArtifactDigest,
  refsManifestBLayerArtifactContent,
  refsManifestBLayerArtifactDigest,
  refsManifestCLayerArtifactContent,
  refsManifestCLayerArtifactDigest,
  testAnnotationKey,
  testAnnotationValues,
  testRefArtifactTypeA,
  testRefBlobA,
  testRefBlobADigest,
  testRefBlobALength,
  testRefBlobB,
  testRefBlobBDigest,
  testRefBlobBLength,
  testTagName,
  warn,
  type ConformanceRequest,
  type ConformanceResponse,
  type IndexBody,
  populateBlob,
  useRegistry,
} from './setup.js';
import { OCI_INDEX, OCI_MANIFEST } from '../helpers/oci.js';

const client = useRegistry();

/** PUT a manifest by reference; 2xx expected. */
async function putManifest(reference: string, contentType: string, content: Buffer): Promise<ConformanceResponse> {
  const req = client.newRequest('PUT', '/v2/<name>/manifests/<reference>', { reference }).setHeader('Content-Type', contentType).setBody(content);
  const resp = await client.do(req);
  expect(is2xx(resp.status), resp.describe()).toBe(true);
  return resp;
}

function parseIndex(resp: ConformanceResponse): IndexBody {
  return JSON.parse(resp.text()) as IndexBody;
}

describe('Content Discovery', () => {
  let numTags = 4;
  let tagList: string[] = [];

  describe('Setup', () => {
    if (RUN_CONTENT_DISCOVERY_SETUP) {
      it('Populate registry with test blob', async () => {
        await populateBlob(client, configs[2]!.digest, configs[2]!.contentLength, configs[2]!.content);
      });

      it('Populate registry with test layer', async () => {
        await populateBlob(client, layerBlobDigest, layerBlobContentLength, layerBlobData);
      });

      it('Populate registry with test tags', async () => {
        for (let i = 0; i < numTags; i++) {
          const tag = `test${i}`;
          tagList.push(tag);
          await putManifest(tag, OCI_MANIFEST, manifests[2]!.content);
        }
        const req = client.newRequest('GET', '/v2/<name>/tags/list');
        const resp = await client.do(req);
        tagList = getTagList(resp);
      });
    } else {
      // RunOnlyIfNot(runContentDiscoverySetup): only when OCI_TAG_LIST names existing tags.
      it('Populate registry with test tags (no push)', () => {
        tagList = (ENV_TAG_LIST ?? '').split(',');
      });
    }

    if (RUN_CONTENT_DISCOVERY_SETUP) {
      it('References setup', async () => {
        // Populate registry with empty JSON blob
        // validate expected empty JSON blob digest
        expect(emptyJSONDescriptor.digest).toBe('sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
        await populateBlob(client, emptyJSONDescriptor.digest, String(emptyJSONDescriptor.size), emptyJSONBlob);

        // Populate registry with reference blob before the image manifest is pushed
        await populateBlob(client, testRefBlobADigest, testRefBlobALength, testRefBlobA);

        // Populate registry with test references manifest (config.MediaType = artifactType)
        let resp = await putManifest(refsManifestAConfigArtifactDigest, OCI_MANIFEST, refsManifestAConfigArtifactContent);
        expect(resp.header('OCI-Subject'), resp.describe()).toBe(manifests[4]!.digest);

        // Populate registry with test references manifest (ArtifactType, config.MediaType = emptyJSON)
        resp = await putManifest(refsManifestALayerArtifactDigest, OCI_MANIFEST, refsManifestALayerArtifactContent);
        expect(resp.header('OCI-Subject'), resp.describe()).toBe(manifests[4]!.digest);

        // Populate registry with test index manifest
        resp = await putManifest(refsIndexArtifactDigest, OCI_INDEX, refsIndexArtifactContent);
        expect(resp.header('OCI-Subject'), resp.describe()).toBe(manifests[4]!.digest);

        // Populate registry with test blob
        await populateBlob(client, configs[4]!.digest, configs[4]!.contentLength, configs[4]!.content);

        // Populate registry with test layer
        await populateBlob(client, layerBlobDigest, layerBlobContentLength, layerBlobData);

        // Populate registry with test manifest
        const tag = testTagName;
        await putManifest(tag, OCI_MANIFEST, manifests[4]!.content);

        // Populate registry with reference blob after the image manifest is pushed
        await populateBlob(client, testRefBlobBDigest, testRefBlobBLength, testRefBlobB);

        // Populate registry with test references manifest (config.MediaType = artifactType)
        resp = await putManifest(refsManifestBConfigArtifactDigest, OCI_MANIFEST, refsManifestBConfigArtifactContent);
        expect(resp.header('OCI-Subject'), resp.describe()).toBe(manifests[4]!.digest);

        // Populate registry with test references manifest (ArtifactType, config.MediaType = emptyJSON)
        resp = await putManifest(refsManifestBLayerArtifactDigest, OCI_MANIFEST, refsManifestBLayerArtifactContent);
        expect(resp.header('OCI-Subject'), resp.describe()).toBe(manifests[4]!.digest);

        // Populate registry with test references manifest to a non-existent subject
        resp = await putManifest(refsManifestCLayerArtifactDigest, OCI_MANIFEST, refsManifestCLayerArtifactContent);
        expect(resp.header('OCI-Subject'), resp.describe()).toBe(manifests[3]!.digest);
      });
    }
  });

  describe('Test content discovery endpoints (listing tags)', () => {
    it('GET request to list tags should yield 200 response', async () => {
      const req = client.newRequest('GET', '/v2/<name>/tags/list');
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(200);
      tagList = getTagList(resp);
      numTags = tagList.length;
    });

    it('GET number of tags should be limitable by `n` query parameter', async () => {
      const numResults = Math.trunc(numTags / 2);
      const req = client.newRequest('GET', '/v2/<name>/tags/list').setQueryParam('n', String(numResults));
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(200);
      tagList = getTagList(resp);
      expect(tagList.length, resp.describe()).toBe(numResults);
    });

    it('GET start of tag is set by `last` query parameter', async () => {
      const numResults = Math.trunc(numTags / 2);
      let req: ConformanceRequest = client.newRequest('GET', '/v2/<name>/tags/list').setQueryParam('n', String(numResults));
      let resp = await client.do(req);
      tagList = getTagList(resp);
      req = client
        .newRequest('GET', '/v2/<name>/tags/list')
        .setQueryParam('n', String(numResults))
        .setQueryParam('last', tagList[numResults - 1]!);
      resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(200);
      // As upstream: these two look at the first page's list (03_discovery_test.go does not reassign
      // tagList from the second response).
      expect(tagList.length).toBeLessThanOrEqual(numResults);
      expect(tagList).toContain(tagList[numResults - 1]);
    });
  });

  describe('Test content discovery endpoints (listing references)', () => {
    it('GET request to nonexistent blob should result in empty 200 response', async () => {
      const req = client.newRequest('GET', '/v2/<name>/referrers/<digest>', { digest: dummyDigest });
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(200);
      expect(resp.header('Content-Type'), resp.describe()).toBe(OCI_INDEX);

      const index = parseIndex(resp);
      expect(index.manifests?.length ?? 0).toBe(0);
    });

    it('GET request to existing blob should yield 200', async () => {
      const req = client.newRequest('GET', '/v2/<name>/referrers/<digest>', { digest: manifests[4]!.digest });
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(200);
      expect(resp.header('Content-Type'), resp.describe()).toBe(OCI_INDEX);

      const index = parseIndex(resp);
      const found = index.manifests ?? [];
      expect(found.length, resp.describe()).toBe(5);
      expect(found[0]!.digest).not.toBe(found[1]!.digest);
      for (const entry of found) {
        expect(Object.keys(entry.annotations ?? {}).length, resp.describe()).toBe(1);
        expect(entry.annotations?.[testAnnotationKey] ?? '', resp.describe()).toBe(testAnnotationValues[entry.digest] ?? '');
      }
    });

    it('GET request to existing blob with filter should yield 200', async () => {
      const req = client.newRequest('GET', '/v2/<name>/referrers/<digest>', { digest: manifests[4]!.digest }).setQueryParam('artifactType', testRefArtifactTypeA);
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(200);
      expect(resp.header('Content-Type'), resp.describe()).toBe(OCI_INDEX);

      const index = parseIndex(resp);
      const found = index.manifests ?? [];

      // also check resp header "OCI-Filters-Applied: artifactType" denoting that an artifactType filter was applied
      // (03_discovery_test.go: a registry that does not filter returns all 5, with only a warning).
      if (resp.header('OCI-Filters-Applied') !== '') {
        expect(found.length, resp.describe()).toBe(2);
        expect(resp.header('OCI-Filters-Applied')).toBe(artifactTypeFilter);
        for (const entry of found) {
          expect(Object.keys(entry.annotations ?? {}).length, resp.describe()).toBe(1);
          expect(entry.annotations?.[testAnnotationKey] ?? '', resp.describe()).toBe(testAnnotationValues[entry.digest] ?? '');
        }
      } else {
        expect(found.length, resp.describe()).toBe(5);
        for (const entry of found) {
          expect(Object.keys(entry.annotations ?? {}).length, resp.describe()).toBe(1);
          expect(entry.annotations?.[testAnnotationKey] ?? '', resp.describe()).toBe(testAnnotationValues[entry.digest] ?? '');
        }
        warn('filtering by artifact-type is not implemented');
      }
    });

    it('GET request to missing manifest should yield 200', async () => {
      const req = client.newRequest('GET', '/v2/<name>/referrers/<digest>', { digest: manifests[3]!.digest });
      const resp = await client.do(req);
      expect(resp.status, resp.describe()).toBe(200);
      expect(resp.header('Content-Type'), resp.describe()).toBe(OCI_INDEX);

      const index = parseIndex(resp);
      const found = index.manifests ?? [];
      expect(found.length, resp.describe()).toBe(1);
      expect(found[0]!.digest).toBe(refsManifestCLayerArtifactDigest);
    });
  });

  describe('Teardown', () => {
    /** 03_discovery_test.go: every reference, deleted through the `<digest>` path; 2xx, 405 or 404. */
    async function deleteCreatedManifestsAndTags(): Promise<void> {
      const references = [
        refsIndexArtifactDigest,
        manifests[2]!.digest,
        manifests[4]!.digest,
        refsManifestAConfigArtifactDigest,
        refsManifestALayerArtifactDigest,
        testTagName,
        refsManifestBConfigArtifactDigest,
        refsManifestBLayerArtifactDigest,
        refsManifestCLayerArtifactDigest,
      ];
      for (const ref of references) {
        const req = client.newRequest('DELETE', '/v2/<name>/manifests/<digest>', { digest: ref });
        const resp = await client.do(req);
        expect(is2xx(resp.status) || resp.status === 405 || resp.status === 404, resp.describe()).toBe(true);
      }
    }

    if (RUN_CONTENT_DISCOVERY_SETUP) {
      if (DELETE_MANIFEST_BEFORE_BLOBS) {
        it('Delete created manifest & associated tags', async () => {
          await deleteCreatedManifestsAndTags();
        });
      }

      // 03_discovery_test.go accepts 2xx or 405 here (not 404).
      it('Delete config blob created in tests', async () => {
        const req = client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: configs[2]!.digest });
        const resp = await client.do(req);
        expect(is2xx(resp.status) || resp.status === 405, resp.describe()).toBe(true);
      });

      it('Delete layer blob created in setup', async () => {
        const req = client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: layerBlobDigest });
        const resp = await client.do(req);
        expect(is2xx(resp.status) || resp.status === 405, resp.describe()).toBe(true);
      });

      if (!DELETE_MANIFEST_BEFORE_BLOBS) {
        it('Delete created manifest & associated tags', async () => {
          await deleteCreatedManifestsAndTags();
        });
      }

      it('References teardown', async () => {
        // 03_discovery_test.go deleteReq: 2xx, 405 or 404.
        const deleteReq = async (req: ConformanceRequest): Promise<void> => {
          const resp = await client.do(req);
          expect(is2xx(resp.status) || resp.status === 405 || resp.status === 404, resp.describe()).toBe(true);
        };

        const deleteManifests = async (): Promise<void> => {
          await deleteReq(client.newRequest('DELETE', '/v2/<name>/manifests/<reference>', { reference: refsIndexArtifactDigest }));
          await deleteReq(client.newRequest('DELETE', '/v2/<name>/manifests/<reference>', { reference: refsManifestAConfigArtifactDigest }));
          await deleteReq(client.newRequest('DELETE', '/v2/<name>/manifests/<reference>', { reference: refsManifestALayerArtifactDigest }));
          await deleteReq(client.newRequest('DELETE', '/v2/<name>/manifests/<digest>', { digest: manifests[4]!.digest }));
          await deleteReq(client.newRequest('DELETE', '/v2/<name>/manifests/<reference>', { reference: refsManifestBConfigArtifactDigest }));
          await deleteReq(client.newRequest('DELETE', '/v2/<name>/manifests/<reference>', { reference: refsManifestBLayerArtifactDigest }));
        };

        if (DELETE_MANIFEST_BEFORE_BLOBS) await deleteManifests();

        // Delete config blob created in setup
        await deleteReq(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: configs[4]!.digest }));

        // Delete reference blob created in setup
        await deleteReq(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: testRefBlobADigest }));
        await deleteReq(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: testRefBlobBDigest }));

        // Delete empty JSON blob created in setup
        await deleteReq(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: emptyJSONDescriptor.digest }));

        // Delete manifest created in setup
        if (!DELETE_MANIFEST_BEFORE_BLOBS) await deleteManifests();
      });
    }
  });
});
