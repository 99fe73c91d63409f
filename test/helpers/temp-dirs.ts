/**
 * Temporary folders for one test (or one test file): made under os.tmpdir(), removed together.
 * Call `removeAll` from afterEach (per test) or afterAll (per file).
 *
 * Names are lower-case hex rather than mkdtemp's mixed case: podman names an image it pulls from
 * `oci:<dir>` after the path, and image names must be lower case.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export class TempDirs {
  private readonly made: string[] = [];

  async make(prefix: string): Promise<string> {
    const dir = path.join(tmpdir(), `berth-${prefix}-${randomBytes(8).toString('hex')}`);
    // Not recursive: fails on the (astronomically unlikely) name clash instead of sharing a folder.
    await mkdir(dir, { mode: 0o700 });
    this.made.push(dir);
    return dir;
  }

  async removeAll(): Promise<void> {
    const dirs = this.made.splice(0);
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true, maxRetries: 3 })));
  }
}
