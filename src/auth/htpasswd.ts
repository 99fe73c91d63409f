/**
 * An htpasswd file of bcrypt entries (`user:$2y$...`), reloaded when it changes. Anything but
 * bcrypt is refused at load, naming the line: a hash Berth cannot verify must never be read as a
 * plaintext password. A broken reload keeps the last good set.
 */
import { readFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { ConfigError } from '../config/config.js';

const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

/** Cost of new hashes (`berth htpasswd`): about 60 ms per check here, once per client thanks to the cache. */
export const BCRYPT_COST = 10;

const dummyHashes = new Map<number, string>();

/**
 * A hash of a random password at `cost`, compared when the user is unknown so that a wrong user name
 * takes as long as a wrong password.
 */
function dummyHash(cost: number): string {
  let hash = dummyHashes.get(cost);
  if (!hash) {
    hash = bcrypt.hashSync(randomBytes(16).toString('hex'), cost);
    dummyHashes.set(cost, hash);
  }
  return hash;
}

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
  private dummy: string;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Bumped on every successful reload so credential caches built on the old set are dropped. */
  generation = 0;

  private constructor(
    readonly file: string,
    users: Map<string, string>,
  ) {
    this.users = users;
    this.dummy = dummyHash(highestCost(users));
  }

  static async open(file: string): Promise<HtpasswdStore> {
    const absolute = path.resolve(file);
    return new HtpasswdStore(absolute, await loadHtpasswd(absolute));
  }

  has(user: string): boolean {
    return this.users.has(user);
  }

  /** bcrypt-compares; an unknown user is compared against a dummy hash so both take the same time. */
  async verify(user: string, password: string): Promise<boolean> {
    const hash = this.users.get(user);
    const ok = await bcrypt.compare(password, hash ?? this.dummy);
    return ok && hash !== undefined;
  }

  async reload(log: HtpasswdLog): Promise<void> {
    try {
      this.users = await loadHtpasswd(this.file);
      this.dummy = dummyHash(highestCost(this.users));
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
