/**
 * Compiles src/ to dist/ once before any test file runs (called by ./global.ts), for the tests that
 * drive the real `berth` command as a child process (signals, crashes, the CLI). Building here
 * rather than in each file keeps parallel test files from writing dist/ at the same time.
 */
import { execFileSync } from 'node:child_process';

export default function buildDist(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
