/**
 * Runs a real client (skopeo, podman, buildah, ctr) as a child process: an argument vector, never a
 * shell string, always with a timeout. A failure throws with the command line, exit status and the
 * tool's stderr, so a failing e2e test says what the client complained about.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface RunOptions {
  /** Kills the tool after this long (default 45 s: below vitest's 60 s test timeout, so a hang names the command). */
  timeoutMs?: number;
  /** Added to the parent's environment. */
  env?: Record<string, string>;
  cwd?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** stdout as the exact bytes written (for raw manifests). */
  stdoutBytes: Buffer;
}

export async function runTool(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, {
      timeout: options.timeoutMs ?? 45_000,
      killSignal: 'SIGKILL',
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, ...options.env },
      ...(options.cwd ? { cwd: options.cwd } : {}),
      encoding: 'buffer',
    });
    return { stdout: stdout.toString('utf8'), stderr: stderr.toString('utf8'), stdoutBytes: stdout };
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: Buffer; stdout?: Buffer; signal?: string; killed?: boolean };
    const how = failure.killed ? `killed (${failure.signal ?? 'timeout'})` : `exit ${String(failure.code)}`;
    const output = [failure.stderr, failure.stdout]
      .map((bytes) => bytes?.toString('utf8').trim() ?? '')
      .filter((text) => text !== '')
      .join('\n');
    throw new Error(`${command} ${args.join(' ')} failed: ${how}\n${output.trim() || failure.message}`, { cause: error });
  }
}
