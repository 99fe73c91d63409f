/**
 * A small JSON document kept in memory and saved atomically on every change (sessions, users, API
 * keys). Changes are serialized; a crash leaves the previous or the next version, never half of one.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ensureFolder, isNotFound, writeFileAtomic } from './files.js';
import { KeyedMutex } from '../coordination/keyed-mutex.js';

export class JsonDocument<T extends object> {
  private value: T | undefined;
  private readonly lock = new KeyedMutex();

  constructor(
    readonly file: string,
    private readonly empty: () => T,
  ) {}

  /** The current value; do not mutate it, use `update`. */
  async read(): Promise<T> {
    if (this.value === undefined) {
      try {
        this.value = JSON.parse(await readFile(this.file, 'utf8')) as T;
      } catch (error) {
        if (!isNotFound(error)) throw error;
        this.value = this.empty();
      }
    }
    return this.value;
  }

  /** Changes a copy, saves it, then makes it current; returns what `change` returned. */
  update<R>(change: (draft: T) => R): Promise<R> {
    return this.lock.run('document', async () => {
      const draft = structuredClone(await this.read());
      const result = change(draft);
      await ensureFolder(path.dirname(this.file));
      await writeFileAtomic(this.file, JSON.stringify(draft));
      this.value = draft;
      return result;
    });
  }
}
