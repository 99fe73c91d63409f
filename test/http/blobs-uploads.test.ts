import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { storedFiles } from '../helpers/stored-files.js';
import { errorCode, pushBlob } from '../helpers/registry-api.js';
import { sha256 } from '../helpers/oci.js';

let server: TestServer;
beforeAll(async () => {
  server = await startBerth();
});
afterAll(async () => server.close());

const post = (repo: string, query = '', init: RequestInit = {}) => fetch(`${server.url}/v2/${repo}/blobs/uploads/${query}`, { method: 'POST', ...init });

describe('blob upload sessions', () => {
  it('POST opens a session with Location, Docker-Upload-UUID and Range', async () => {
    const response = await post('up/start');
    expect(response.status).toBe(202);
    const id = response.headers.get('docker-upload-uuid')!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get('location')).toBe(`/v2/up/start/blobs/uploads/${id}`);
    expect(response.headers.get('range')).toBe('0-0');
    expect(response.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    // The session lives in storage, in zot's layout.
    expect(await storedFiles(server).list('up/start/.uploads')).toContain(id);
  });

  it('monolithic POST ?digest= stores the blob', async () => {
    const bytes = randomBytes(3000);
    const response = await post('up/mono', `?digest=${sha256(bytes)}`, { body: bytes, headers: { 'content-type': 'application/octet-stream' } });
    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe(`/v2/up/mono/blobs/${sha256(bytes)}`);
    expect(response.headers.get('docker-content-digest')).toBe(sha256(bytes));
    const get = await fetch(`${server.url}/v2/up/mono/blobs/${sha256(bytes)}`);
    expect(Buffer.from(await get.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('monolithic POST with a wrong digest stores nothing', async () => {
    const bytes = randomBytes(100);
    const wrong = sha256('something else');
    const response = await post('up/wrong', `?digest=${wrong}`, { body: bytes });
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe('DIGEST_INVALID');
    expect((await fetch(`${server.url}/v2/up/wrong/blobs/${wrong}`, { method: 'HEAD' })).status).toBe(404);
    expect((await fetch(`${server.url}/v2/up/wrong/blobs/${sha256(bytes)}`, { method: 'HEAD' })).status).toBe(404);
    expect(await storedFiles(server).list('up/wrong/.uploads')).toEqual([]);
  });

  it('chunked PATCH with Content-Range, status GET, then PUT with a final chunk', async () => {
    const bytes = randomBytes(10_000);
    const start = await post('up/chunked');
    let location = start.headers.get('location')!;
    const first = await fetch(`${server.url}${location}`, { method: 'PATCH', body: bytes.subarray(0, 4000), headers: { 'content-range': '0-3999', 'content-type': 'application/octet-stream' } });
    expect(first.status).toBe(202);
    expect(first.headers.get('range')).toBe('0-3999');
    location = first.headers.get('location')!;
    const status = await fetch(`${server.url}${location}`);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-3999');
    // Out of order: 416 and the session survives.
    const gap = await fetch(`${server.url}${location}`, { method: 'PATCH', body: bytes.subarray(5000, 6000), headers: { 'content-range': '5000-5999' } });
    expect(gap.status).toBe(416);
    expect(await errorCode(gap)).toBe('RANGE_INVALID');
    const overlap = await fetch(`${server.url}${location}`, { method: 'PATCH', body: bytes.subarray(3000, 4000), headers: { 'content-range': '3000-3999' } });
    expect(overlap.status).toBe(416);
    // A streamed PATCH without Content-Range appends.
    const streamed = await fetch(`${server.url}${location}`, { method: 'PATCH', body: bytes.subarray(4000, 8000) });
    expect(streamed.status).toBe(202);
    expect(streamed.headers.get('range')).toBe('0-7999');
    const put = await fetch(`${server.url}${location}?digest=${sha256(bytes)}`, { method: 'PUT', body: bytes.subarray(8000) });
    expect(put.status).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(sha256(bytes));
    const get = await fetch(`${server.url}/v2/up/chunked/blobs/${sha256(bytes)}`);
    expect(Buffer.from(await get.arrayBuffer()).equals(bytes)).toBe(true);
    // The session is gone once committed.
    expect((await fetch(`${server.url}${location}`)).status).toBe(404);
  });

  it('PUT with a wrong digest keeps the session and serves nothing', async () => {
    const bytes = randomBytes(500);
    const start = await post('up/keep');
    const location = start.headers.get('location')!;
    await fetch(`${server.url}${location}`, { method: 'PATCH', body: bytes });
    const bad = await fetch(`${server.url}${location}?digest=${sha256('nope')}`, { method: 'PUT' });
    expect(bad.status).toBe(400);
    expect(await errorCode(bad)).toBe('DIGEST_INVALID');
    expect((await fetch(`${server.url}/v2/up/keep/blobs/${sha256(bytes)}`, { method: 'HEAD' })).status).toBe(404);
    const good = await fetch(`${server.url}${location}?digest=${sha256(bytes)}`, { method: 'PUT' });
    expect(good.status).toBe(201);
  });

  it('DELETE cancels a session', async () => {
    const start = await post('up/cancel');
    const location = start.headers.get('location')!;
    expect((await fetch(`${server.url}${location}`, { method: 'DELETE' })).status).toBe(204);
    const again = await fetch(`${server.url}${location}`, { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect(await errorCode(again)).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('an interrupted PATCH keeps the bytes that arrived; the session resumes after them', async () => {
    const start = await post('up/abort');
    const location = start.headers.get('location')!;
    await fetch(`${server.url}${location}`, { method: 'PATCH', body: Buffer.alloc(100, 1) });
    const { request } = await import('node:http');
    await new Promise<void>((resolve) => {
      const req = request(`${server.url}${location}`, { method: 'PATCH', headers: { 'content-length': '1000' } });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(300, 2));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 200);
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const status = await fetch(`${server.url}${location}`);
    expect(status.headers.get('range')).toBe('0-399');
    const rest = Buffer.alloc(50, 3);
    const all = Buffer.concat([Buffer.alloc(100, 1), Buffer.alloc(300, 2), rest]);
    const put = await fetch(`${server.url}${location}?digest=${sha256(all)}`, { method: 'PUT', body: rest });
    expect(put.status).toBe(201);
  });

  it.each([
    ['GET', 'up/x/blobs/uploads/not-a-uuid', 404, 'BLOB_UPLOAD_UNKNOWN'],
    ['PATCH', 'up/x/blobs/uploads/3f2c4f8e-0000-4000-8000-000000000000', 404, 'BLOB_UPLOAD_UNKNOWN'],
    ['PUT', 'up/x/blobs/uploads/3f2c4f8e-0000-4000-8000-000000000000?digest=sha256:' + 'a'.repeat(64), 404, 'BLOB_UPLOAD_UNKNOWN'],
    ['PUT', 'up/x/blobs/uploads/3f2c4f8e-0000-4000-8000-000000000000', 400, 'DIGEST_INVALID'],
    ['POST', 'up/x/blobs/uploads/?digest=sha256:zz', 400, 'DIGEST_INVALID'],
    ['POST', 'UP/x/blobs/uploads/', 400, 'NAME_INVALID'],
    ['POST', 'up/.hidden/x/blobs/uploads/', 400, 'NAME_INVALID'],
    ['POST', 'up%2F..%2Fx/blobs/uploads/', 400, 'NAME_INVALID'],
    ['GET', 'up/x/blobs/sha256:' + 'a'.repeat(64), 404, 'BLOB_UNKNOWN'],
    ['GET', 'up/x/blobs/sha256:short', 400, 'DIGEST_INVALID'],
    ['GET', 'up/x/blobs/md5:' + 'a'.repeat(32), 400, 'DIGEST_INVALID'],
    ['DELETE', 'up/x/blobs/sha256:' + 'a'.repeat(64), 404, 'BLOB_UNKNOWN'],
  ])('%s /v2/%s → %d %s', async (method, target, status, code) => {
    const response = await fetch(`${server.url}/v2/${target}`, { method });
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await errorCode(response)).toBe(code);
  });

  it('a body on POST without ?digest= is refused', async () => {
    const response = await post('up/body', '', { body: 'x' });
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe('BLOB_UPLOAD_INVALID');
  });

  it('PATCH whose Content-Range length differs from Content-Length is refused', async () => {
    const location = (await post('up/len')).headers.get('location')!;
    const response = await fetch(`${server.url}${location}`, { method: 'PATCH', body: 'abcd', headers: { 'content-range': '0-9' } });
    expect(response.status).toBe(416);
    expect((await fetch(`${server.url}${location}`)).headers.get('range')).toBe('0-0');
  });
});

describe('blobs', () => {
  it('GET and HEAD with Docker-Content-Digest, Content-Length and ranges', async () => {
    const bytes = randomBytes(1000);
    const digest = await pushBlob(server.url, 'bl/get', bytes);
    const head = await fetch(`${server.url}/v2/bl/get/blobs/${digest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('1000');
    expect(head.headers.get('docker-content-digest')).toBe(digest);
    expect(head.headers.get('accept-ranges')).toBe('bytes');
    const range = await fetch(`${server.url}/v2/bl/get/blobs/${digest}`, { headers: { range: 'bytes=10-19' } });
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe('bytes 10-19/1000');
    expect(Buffer.from(await range.arrayBuffer()).equals(bytes.subarray(10, 20))).toBe(true);
    const suffix = await fetch(`${server.url}/v2/bl/get/blobs/${digest}`, { headers: { range: 'bytes=-5' } });
    expect(Buffer.from(await suffix.arrayBuffer()).equals(bytes.subarray(995))).toBe(true);
    for (const bad of ['bytes=1000-', 'bytes=9-3', 'pages=1-2']) {
      const response = await fetch(`${server.url}/v2/bl/get/blobs/${digest}`, { headers: { range: bad } });
      expect(response.status, bad).toBe(416);
      expect(await errorCode(response)).toBe('RANGE_INVALID');
    }
  });

  it('blobs are per repository', async () => {
    const digest = await pushBlob(server.url, 'bl/one', randomBytes(10));
    expect((await fetch(`${server.url}/v2/bl/two/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
  });

  it('cross-repository mount: 201 when the source holds the blob, 202 session when not', async () => {
    const bytes = randomBytes(64);
    const digest = await pushBlob(server.url, 'mnt/src', bytes);
    const mounted = await post('mnt/dst', `?mount=${digest}&from=mnt/src`);
    expect(mounted.status).toBe(201);
    expect(mounted.headers.get('location')).toBe(`/v2/mnt/dst/blobs/${digest}`);
    expect(mounted.headers.get('docker-content-digest')).toBe(digest);
    const get = await fetch(`${server.url}/v2/mnt/dst/blobs/${digest}`);
    expect(Buffer.from(await get.arrayBuffer()).equals(bytes)).toBe(true);
    const missing = await post('mnt/dst2', `?mount=${sha256('absent')}&from=mnt/src`);
    expect(missing.status).toBe(202);
    expect(missing.headers.get('docker-upload-uuid')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('DELETE removes an unreferenced blob', async () => {
    const digest = await pushBlob(server.url, 'bl/del', randomBytes(10));
    const response = await fetch(`${server.url}/v2/bl/del/blobs/${digest}`, { method: 'DELETE' });
    expect(response.status).toBe(202);
    expect((await fetch(`${server.url}/v2/bl/del/blobs/${digest}`)).status).toBe(404);
  });
});
