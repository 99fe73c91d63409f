import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { pushImage } from '../helpers/registry-api.js';
import { runGc, runScrub } from '../../src/cli/maintenance.js';
import { claimStorage } from '../../src/storage/server-claim.js';
import { sha256 } from '../helpers/oci.js';

let server: TestServer;
afterEach(async () => {
  vi.restoreAllMocks();
  await server?.close();
});

function captureConsole(): string[] {
  const lines: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line));
  vi.spyOn(console, 'error').mockImplementation((line: string) => void lines.push(line));
  return lines;
}

describe('scrub', () => {
  it('reports every image ok, then the one whose layer was damaged, and never repairs', async () => {
    server = await startBerth();
    await pushImage(server.url, 'scrub/a', 'v1');
    const damaged = await pushImage(server.url, 'scrub/b', 'v1');
    await pushImage(server.url, 'scrub/b', 'v2', { layers: 1 });
    expect((await server.app.maintenance.scrubber.scrub()).map((result) => [result.repository, result.reference, result.status])).toEqual([
      ['scrub/a', 'v1', 'ok'],
      ['scrub/b', 'v1', 'ok'],
      ['scrub/b', 'v2', 'ok'],
    ]);

    const layerFile = path.join(server.root, 'scrub/b/blobs/sha256', sha256(damaged.layers[0]!).slice(7));
    const bytes = await readFile(layerFile);
    bytes[0] = bytes[0]! ^ 0xff;
    await writeFile(layerFile, bytes);
    const results = await server.app.maintenance.scrubber.scrub();
    const affected = results.filter((result) => result.status === 'affected');
    expect(affected).toEqual([{ repository: 'scrub/b', reference: 'v1', status: 'affected', reason: expect.stringMatching(/content has digest/) }]);
    expect((await readFile(layerFile)).equals(bytes)).toBe(true);

    const lines = captureConsole();
    expect(await runScrub(server.configFile)).toBe(1);
    expect(lines).toContain('3 images checked, 1 affected');
    expect(lines.some((line) => /^affected scrub\/b:v1: blob sha256:/.test(line))).toBe(true);
  });

  it('reports a truncated manifest and a missing blob', async () => {
    server = await startBerth();
    const image = await pushImage(server.url, 'scrub/c', 'v1');
    await pushImage(server.url, 'scrub/c', 'v2');
    await writeFile(path.join(server.root, 'scrub/c/blobs/sha256', image.digest.slice(7)), image.manifest.subarray(0, 10));
    const results = await server.app.maintenance.scrubber.scrub();
    expect(results.find((result) => result.reference === 'v1')).toMatchObject({ status: 'affected', reason: expect.stringMatching(/bytes, \d+ expected/) });
    expect(results.find((result) => result.reference === 'v2')).toMatchObject({ status: 'ok' });
  });
});

describe('berth gc', () => {
  it('reports what it removed, and refuses while a server uses the storage', async () => {
    server = await startBerth({ config: { storage: { gcDelay: '0s' } } });
    const image = await pushImage(server.url, 'cli/app', 'v1');
    await fetch(`${server.url}/v2/cli/app/manifests/${image.digest}`, { method: 'DELETE' });
    const release = await claimStorage(server.root);
    // A claim by this very process counts as no one else's; pretend another process holds it.
    const claim = path.join(server.root, '_berth/server.json');
    await writeFile(claim, JSON.stringify({ pid: process.ppid }));
    let lines = captureConsole();
    expect(await runGc(server.configFile)).toBe(1);
    expect(lines.join('\n')).toMatch(/a Berth server \(pid \d+\) is serving/);
    await release();
    vi.restoreAllMocks();
    lines = captureConsole();
    expect(await runGc(server.configFile)).toBe(0);
    // The DELETE already took the manifest out of the index; the collection frees its four blobs.
    expect(lines, lines.join('\n')).toContain(`cli/app: removed 4 blob(s); ${image.manifest.length + image.config.length + image.layers.reduce((sum, layer) => sum + layer.length, 0)} bytes freed`);
    expect(lines.at(-1)).toMatch(/^1 repositories: removed 0 tags, 0 manifests, 4 blobs, 0 uploads; \d+ bytes freed$/);
  });
});
