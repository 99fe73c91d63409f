/**
 * skopeo as the tests run it: `--insecure-policy` so the machine's policy.json cannot change the
 * outcome, and TLS verification off for the plain-HTTP test registry (skopeo then falls back from
 * https to http). Copies use `--preserve-digests`, so skopeo fails instead of silently rewriting a
 * manifest: what the registry stores must be the exact bytes of the source.
 */
import { runTool, type RunResult } from './run-tool.js';

export function skopeo(args: string[], timeoutMs = 45_000): Promise<RunResult> {
  return runTool('skopeo', ['--insecure-policy', ...args], { timeoutMs });
}

/** `skopeo copy` between any two transports; `all` copies every image of an index. */
export function skopeoCopy(source: string, destination: string, options: { all?: boolean } = {}): Promise<RunResult> {
  const args = ['copy', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false'];
  if (options.all) args.push('--all');
  return skopeo([...args, source, destination]);
}

/** The manifest bytes skopeo reads for a reference (`inspect --raw`), exactly as served. */
export async function skopeoRawManifest(reference: string): Promise<Buffer> {
  const { stdoutBytes } = await skopeo(['inspect', '--raw', '--tls-verify=false', reference]);
  return stdoutBytes;
}
