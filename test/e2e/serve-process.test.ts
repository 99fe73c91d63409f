/**
 * `berth` as operators run it: the compiled command as a child process (TLS with a certificate
 * made here and renewed in place, SIGHUP reloads, SIGTERM stops cleanly), and the CLI's
 * --version and --help.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/berth-process.js';

const run = promisify(execFile);
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});
afterAll(async () => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-serve-'));
  dirs.push(dir);
  return dir;
}

async function selfSigned(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], {
    timeout: 30_000,
  });
  return { cert, key };
}

/** Starts `node dist/main.js serve <config>` and resolves once it logs that it listens. */
async function serve(config: object, dir: string): Promise<{ child: ChildProcess; log: () => string }> {
  const file = path.join(dir, 'zot.json');
  await writeFile(file, JSON.stringify(config));
  const child = spawn(process.execPath, ['dist/main.js', 'serve', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor(
    () => output.includes('Server listening'),
    () => output,
  );
  return { child, log: () => output };
}

async function waitFor(condition: () => boolean, describe: () => string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out; output so far:\n${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function peerFingerprint(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: undefined }, () => {
      const certificate = socket.getPeerX509Certificate();
      socket.end();
      if (certificate) resolve(certificate.fingerprint256);
      else reject(new Error('no certificate'));
    });
    socket.on('error', reject);
  });
}

describe('berth serve', () => {
  it('serves HTTPS with http.tls and picks up a renewed certificate without a restart', async () => {
    const dir = await tempDir();
    const first = await selfSigned(dir, 'first');
    const port = await freePort();
    const { log } = await serve(
      { storage: { rootDirectory: path.join(dir, 'storage') }, http: { address: '127.0.0.1', port, tls: { cert: first.cert, key: first.key } }, log: { level: 'info' } },
      dir,
    );
    const firstPem = await readFile(first.cert);
    const response = await undiciFetch(`https://127.0.0.1:${port}/v2/`, { dispatcher: new Agent({ connect: { ca: firstPem } }) });
    expect(response.status).toBe(200);
    expect(response.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(await peerFingerprint(port, firstPem)).toBe(new X509Certificate(firstPem).fingerprint256);

    // cert-manager renews in place: same paths, new key pair.
    const second = await selfSigned(dir, 'second');
    await writeFile(first.key, await readFile(second.key));
    await writeFile(first.cert, await readFile(second.cert));
    const secondPem = await readFile(second.cert);
    await waitFor(() => log().includes('TLS certificate reloaded'), log);
    expect(await peerFingerprint(port, secondPem)).toBe(new X509Certificate(secondPem).fingerprint256);
    expect(createHash('sha256').update(firstPem).digest('hex')).not.toBe(createHash('sha256').update(secondPem).digest('hex'));
  });

  it('reloads its config on SIGHUP and stops cleanly on SIGTERM', async () => {
    const dir = await tempDir();
    const port = await freePort();
    const { child, log } = await serve({ storage: { rootDirectory: path.join(dir, 'storage') }, http: { address: '127.0.0.1', port }, log: { level: 'info' } }, dir);
    child.kill('SIGHUP');
    await waitFor(() => log().includes('configuration reloaded'), log);
    expect((await fetch(`http://127.0.0.1:${port}/livez`)).status).toBe(200);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(log()).toMatch(/shutting down/);
  });
});

describe('the berth command', () => {
  it('prints its version and per-command help', async () => {
    const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
    expect((await run(process.execPath, ['dist/main.js', '--version'])).stdout.trim()).toBe(`berth ${pkg.version}`);
    for (const command of ['serve', 'verify', 'gc', 'scrub', 'htpasswd']) {
      const { stdout } = await run(process.execPath, ['dist/main.js', command, '--help']);
      expect(stdout).toMatch(new RegExp(`^usage: berth ${command} <(config|user)>`));
    }
    await expect(run(process.execPath, ['dist/main.js', 'bogus', 'x'])).rejects.toMatchObject({ code: 1 });
  });

  it('verify names the file and JSON path of each problem and exits 1', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'zot.json');
    await writeFile(file, JSON.stringify({ storage: { rootDirectory: '/x', gcDelay: 'soon' }, http: { port: 'eighty' } }));
    const failure = await run(process.execPath, ['dist/main.js', 'verify', file]).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 1 });
    expect((failure as { stderr: string }).stderr).toContain(`${file}: /storage/gcDelay: must be a Go duration`);
    expect((failure as { stderr: string }).stderr).toContain(`${file}: /http/port: must be integer; found "eighty"`);
    const ok = await run(process.execPath, ['dist/main.js', 'verify', 'config/zot.json']);
    expect(ok.stdout).toMatch(/config\/zot\.json: ok/);
  });
});
