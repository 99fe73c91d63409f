/**
 * Which repositories hold each blob, so that a blob pushed again elsewhere becomes a hard link to
 * the bytes already on disk (zot's local dedupe). Kept as an append-only log in
 * `<root>/_berth/dedupe.jsonl` (one `{"add"|"remove": digest, "repository": name}` per line): an
 * append per change survives restarts cheaply. A missing or damaged log is rebuilt by walking every
 * repository's blobs; the log is rewritten compactly at each load.
 */
import { appendFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { isValidName } from '../oci/names.js';
import { parseDigest } from '../oci/digest.js';
import { ensureFolder, isNotFound, writeFileAtomic } from './files.js';
import type { Layout } from './layout.js';
import { listBlobFiles } from './fs-listing.js';

type Entry = { add: string; repository: string } | { remove: string; repository: string };

export class DedupeIndex {
  private holders: Map<string, Set<string>> | undefined;
  private loading: Promise<Map<string, Set<string>>> | undefined;
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly layout: Layout,
    private readonly listRepositories: () => Promise<readonly string[]>,
  ) {}

  private get file(): string {
    return this.layout.stateDocument('dedupe', 'jsonl');
  }

  /** Repositories recorded as holding `digest` (the caller checks the file is still there). */
  async holdersOf(digest: string): Promise<string[]> {
    return [...((await this.load()).get(digest) ?? [])];
  }

  async add(digest: string, repository: string): Promise<void> {
    const holders = await this.load();
    if (holders.get(digest)?.has(repository)) return;
    holders.set(digest, (holders.get(digest) ?? new Set()).add(repository));
    await this.append({ add: digest, repository });
  }

  async remove(digest: string, repository: string): Promise<void> {
    const holders = await this.load();
    if (!holders.get(digest)?.delete(repository)) return;
    if (holders.get(digest)?.size === 0) holders.delete(digest);
    await this.append({ remove: digest, repository });
  }

  private append(entry: Entry): Promise<void> {
    // Chained after the previous append whether it failed or not: chaining with `then` alone made
    // one failed append (a full disk) fail every later one, so no blob could be committed again
    // after space was freed. This caller still sees its own failure.
    const write = this.writes.catch(() => undefined).then(() => appendFile(this.file, `${JSON.stringify(entry)}\n`, { mode: 0o600 }));
    this.writes = write;
    return write;
  }

  private load(): Promise<Map<string, Set<string>>> {
    if (this.holders) return Promise.resolve(this.holders);
    this.loading ??= (async () => {
      const holders = (await this.readLog()) ?? (await this.rebuild());
      await ensureFolder(path.dirname(this.file));
      const lines = [...holders].flatMap(([digest, repositories]) => [...repositories].map((repository) => JSON.stringify({ add: digest, repository })));
      await writeFileAtomic(this.file, lines.length > 0 ? `${lines.join('\n')}\n` : '');
      this.holders = holders;
      return holders;
    })();
    return this.loading;
  }

  /** The log replayed, or undefined when it is missing or any line is damaged. */
  private async readLog(): Promise<Map<string, Set<string>> | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    const holders = new Map<string, Set<string>>();
    for (const line of text.split('\n')) {
      if (line === '') continue;
      let entry: Entry;
      try {
        entry = JSON.parse(line) as Entry;
      } catch {
        return undefined;
      }
      const digest = 'add' in entry ? entry.add : entry.remove;
      if (typeof digest !== 'string' || !parseDigest(digest) || typeof entry.repository !== 'string' || !isValidName(entry.repository)) return undefined;
      if ('add' in entry) holders.set(digest, (holders.get(digest) ?? new Set()).add(entry.repository));
      else holders.get(digest)?.delete(entry.repository);
    }
    return holders;
  }

  private async rebuild(): Promise<Map<string, Set<string>>> {
    const holders = new Map<string, Set<string>>();
    for (const repository of await this.listRepositories()) {
      for (const blob of await listBlobFiles(this.layout, repository)) {
        holders.set(blob.digest.value, (holders.get(blob.digest.value) ?? new Set()).add(repository));
      }
    }
    return holders;
  }
}
