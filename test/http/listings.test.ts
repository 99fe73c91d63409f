import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { errorCode, json, pushImage } from '../helpers/registry-api.js';
import { OCI_MANIFEST } from '../helpers/oci.js';

let server: TestServer;
const TAGS = ['1.0', '1.1', '2.0', 'Latest', '_x', 'a', 'b'];
beforeAll(async () => {
  server = await startBerth();
  const image = await pushImage(server.url, 'ls/app', 'seed');
  for (const tag of TAGS) {
    const put = await fetch(`${server.url}/v2/ls/app/manifests/${tag}`, { method: 'PUT', body: image.manifest, headers: { 'content-type': OCI_MANIFEST } });
    expect(put.status).toBe(201);
  }
  for (const repo of ['ls/zeta', 'ls/alpha', 'ls/alpha/nested']) await pushImage(server.url, repo, 'v1', { layers: 1 });
});
afterAll(async () => server.close());

describe('GET /v2/<name>/tags/list', () => {
  const sorted = [...TAGS, 'seed'].sort();

  it('lists every tag in lexical (code point) order', async () => {
    const response = await fetch(`${server.url}/v2/ls/app/tags/list`);
    expect(response.status).toBe(200);
    expect(response.headers.get('link')).toBeNull();
    expect(await response.json()).toEqual({ name: 'ls/app', tags: sorted });
    expect(sorted[0]).toBe('1.0');
    expect(sorted.indexOf('Latest')).toBeLessThan(sorted.indexOf('_x'));
  });

  it('pages with n and last, linking to the next page', async () => {
    const seen: string[] = [];
    let next = `/v2/ls/app/tags/list?n=3`;
    for (let pages = 0; next && pages < 10; pages += 1) {
      const response = await fetch(`${server.url}${next}`);
      expect(response.status).toBe(200);
      const body = await json(response);
      expect(body.tags.length).toBeLessThanOrEqual(3);
      seen.push(...body.tags);
      const link = response.headers.get('link');
      next = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1]! : '';
    }
    expect(seen).toEqual(sorted);
    const after = await json(await fetch(`${server.url}/v2/ls/app/tags/list?last=b&n=100`));
    expect(after.tags).toEqual(sorted.filter((tag) => tag > 'b'));
  });

  it('answers n=0 with no tags', async () => {
    expect((await json(await fetch(`${server.url}/v2/ls/app/tags/list?n=0`))).tags).toEqual([]);
  });

  it.each(['n=-1', 'n=abc', 'n=1.5'])('refuses %s with PAGINATION_NUMBER_INVALID', async (query) => {
    const response = await fetch(`${server.url}/v2/ls/app/tags/list?${query}`);
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe('PAGINATION_NUMBER_INVALID');
  });

  it('answers NAME_UNKNOWN for a repository that does not exist', async () => {
    const response = await fetch(`${server.url}/v2/ls/nothing/tags/list`);
    expect(response.status).toBe(404);
    expect(await errorCode(response)).toBe('NAME_UNKNOWN');
  });
});

describe('GET /v2/_catalog', () => {
  it('lists repositories sorted, nested names included', async () => {
    const body = await json(await fetch(`${server.url}/v2/_catalog`));
    expect(body.repositories).toEqual(['ls/alpha', 'ls/alpha/nested', 'ls/app', 'ls/zeta']);
  });

  it('pages with n and last', async () => {
    const first = await fetch(`${server.url}/v2/_catalog?n=2`);
    expect(await first.json()).toEqual({ repositories: ['ls/alpha', 'ls/alpha/nested'] });
    expect(first.headers.get('link')).toBe('</v2/_catalog?n=2&last=ls%2Falpha%2Fnested>; rel="next"');
    const second = await fetch(`${server.url}/v2/_catalog?n=2&last=ls%2Falpha%2Fnested`);
    expect(await second.json()).toEqual({ repositories: ['ls/app', 'ls/zeta'] });
    expect(second.headers.get('link')).toBeNull();
  });
});

describe('GET /v2/ and unknown endpoints', () => {
  it('GET /v2/ answers 200 with the API version header', async () => {
    const response = await fetch(`${server.url}/v2/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(await response.json()).toEqual({});
  });

  it.each(['/v2/ls/app', '/v2/ls/app/unknown/x', '/elsewhere'])('%s answers the OCI error JSON', async (target) => {
    const response = await fetch(`${server.url}${target}`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await errorCode(response)).toBe('NOT_FOUND');
  });
});
