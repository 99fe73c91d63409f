/**
 * An htpasswd file of bcrypt entries (`user:$2y$...`), reloaded when it changes. Anything but
 * bcrypt is refused at load, naming the line: a hash Berth cannot verify must never be read as a
 * plaintext password. A broken reload keeps the last good set.
 *
 * A failed check takes as long whoever is named: an unknown user is compared against a dummy hash
 * of the file's highest cost, and every failure is padded to the time a comparison at that cost
 * takes here (measured at load, then followed as load changes it). Without the padding a file that
 * mixes costs (zot's docs make cost-5 entries, `berth htpasswd` cost 10) tells which names exist:
 * a cost-5 user fails in ~5 ms, an unknown one in ~85 ms.
 */
import { readFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcryptjs';
import { ConfigError } from '../config/config.js';

const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

/** Cost of new hashes (`berth htpasswd`): about 60 ms per check here, once per client thanks to the cache. */
export const BCRYPT_COST = 10;

const dummyHashes = new Map<number, Promise<string>>();

/** A hash of a random password at `cost`: what an unknown user is compared against. */
function dummyHash(cost: number): Promise<string> {
  let hash = dummyHashes.get(cost);
  if (!hash) {
    hash = bcrypt.hash(randomBytes(16).toString('hex'), cost);
    dummyHashes.set(cost, hash);
  }
  return hash;
}

/** How much of each new measurement the failure floor takes in (a moving average). */
const FLOOR_WEIGHT = 0.2;

function costOf(hash: string): number {
  return Number(hash.slice(4, 6));
}

/** A broken htpasswd file: at start-up it stops Berth like a bad config. */
export class HtpasswdError extends ConfigError {
  constructor(problem: string) {
    super([problem]);
    this.name = 'HtpasswdError';
  }
}

export function parseHtpasswd(text: string, file: string): Map<string, string> {
  const users = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const where = `${file}:${i + 1}`;
    if (colon <= 0) throw new HtpasswdError(`${where}: expected "user:bcrypt-hash"`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (!BCRYPT.test(hash)) throw new HtpasswdError(`${where}: the entry for "${user}" is not a bcrypt hash ($2a$, $2b$ or $2y$); create one with "berth htpasswd ${user}"`);
    if (users.has(user)) throw new HtpasswdError(`${where}: "${user}" is listed twice`);
    users.set(user, hash);
  });
  return users;
}

function highestCost(users: Map<string, string>): number {
  return users.size === 0 ? BCRYPT_COST : Math.max(...[...users.values()].map(costOf));
}

/** The highest cost of `users`, its dummy hash, and how long one comparison at that cost takes here. */
async function measureHighest(users: Map<string, string>): Promise<{ cost: number; dummy: string; floorMs: number }> {
  const cost = highestCost(users);
  const dummy = await dummyHash(cost);
  const started = performance.now();
  await bcrypt.compare('not the password', dummy);
  return { cost, dummy, floorMs: performance.now() - started };
}

/** A new htpasswd line for `user`. */
export async function htpasswdLine(user: string, password: string): Promise<string> {
  if (user === '' || /[:\s]/.test(user)) throw new Error('a user name must not be empty or contain ":" or white space');
  return `${user}:${await bcrypt.hash(password, BCRYPT_COST)}`;
}

export async function loadHtpasswd(file: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new HtpasswdError(`${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return parseHtpasswd(text, file);
}

export interface HtpasswdLog {
  info(message: string): void;
  error(message: string): void;
}

export class HtpasswdStore {
  private users: Map<string, string>;
  private highest: number;
  private dummy: string;
  /** How long a comparison at the highest cost takes now: every failure lasts at least this long. */
  private failureFloorMs: number;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Bumped on every successful reload so credential caches built on the old set are dropped. */
  generation = 0;

  private constructor(
    readonly file: string,
    users: Map<string, string>,
    highest: { cost: number; dummy: string; floorMs: number },
  ) {
    this.users = users;
    this.highest = highest.cost;
    this.dummy = highest.dummy;
    this.failureFloorMs = highest.floorMs;
  }

  static async open(file: string): Promise<HtpasswdStore> {
    const absolute = path.resolve(file);
    const users = await loadHtpasswd(absolute);
    return new HtpasswdStore(absolute, users, await measureHighest(users));
  }

  has(user: string): boolean {
    return this.users.has(user);
  }

  /**
   * bcrypt-compares; an unknown user is compared against the dummy hash. A failure returns no
   * sooner than a comparison at the file's highest cost would, whatever the user's own cost.
   */
  async verify(user: string, password: string): Promise<boolean> {
    const started = performance.now();
    const hash = this.users.get(user);
    const ok = await bcrypt.compare(password, hash ?? this.dummy);
    const elapsed = performance.now() - started;
    if (hash === undefined || costOf(hash) >= this.highest) this.failureFloorMs += (elapsed - this.failureFloorMs) * FLOOR_WEIGHT;
    if (ok && hash !== undefined) return true;
    const remaining = this.failureFloorMs - elapsed;
    if (remaining > 0) await sleep(remaining);
    return false;
  }

  async reload(log: HtpasswdLog): Promise<void> {
    try {
      const users = await loadHtpasswd(this.file);
      const highest = highestCost(users) === this.highest ? undefined : await measureHighest(users);
      this.users = users;
      if (highest) {
        this.highest = highest.cost;
        this.dummy = highest.dummy;
        this.failureFloorMs = highest.floorMs;
      }
      this.generation += 1;
      log.info(`${this.file}: reloaded ${this.users.size} htpasswd entries`);
    } catch (error) {
      log.error(`${(error as Error).message}; keeping the previous ${this.users.size} entries`);
    }
  }

  /**
   * Watches the file's folder rather than the file: editors and Kubernetes Secret mounts replace the
   * file (rename, symlink swap), which a watch on the old inode would miss.
   */
  watch(log: HtpasswdLog): void {
    if (this.watcher) return;
    const base = path.basename(this.file);
    this.watcher = watch(path.dirname(this.file), { persistent: false }, (_event, name) => {
      if (name !== null && name !== base && !name.startsWith('..')) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.reload(log), 100);
    });
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }
}
