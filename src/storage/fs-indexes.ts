/**
 * The repositories' indexes of the filesystem store: index.json plus its journal
 * (index-journal.ts), held in memory as a `LiveIndex` per repository, changed by group commit.
 *
 * A push appends one journal line (one fdatasync for its whole group) instead of rewriting
 * index.json, so its cost does not grow with the repository. index.json is brought up to date
 * (folded: written whole, then the journal removed) exactly:
 *   - after a group, when the journal holds more bytes than index.json and at least FOLD_MIN_BYTES
 *     (so a push pays a bounded share of rewriting index.json, however big it is);
 *   - when the repository has had no change for IDLE_FOLD_MS;
 *   - before the first change a process makes to a repository whose journal it did not write
 *     (left by a crash, or ending in a torn line);
 *   - by `flush()`: start-up, `berth gc`, and the server's shutdown (`close()`);
 *   - by any whole rewrite (`write`: garbage collection, `updateIndex`).
 * Between folds a zot reading the tree sees index.json as of the last fold; Berth itself always
 * reads index.json with the journal replayed over it.
 *
 * Only one process writes a storage root (the server claim, server-claim.ts); another process that
 * reads it (`berth scrub`) replays the journal as it finds it. A change to index.json by another
 * process shows at the next read, through the file's identity (`stamp`).
 */
import type { Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { isErrorKey, RegistryError } from '../oci/errors.js';
import { isValidName } from '../oci/names.js';
import type { KeyedMutex } from '../coordination/keyed-mutex.js';
import { isNotFound, writeFileAtomic } from './files.js';
import { answer, GroupCommit, runGroup, type Waiting } from './group-commit.js';
import { JournalWriter, listJournals, readJournal } from './index-journal.js';
import { indexJsonPieces } from './index-json.js';
import type { Layout } from './layout.js';
import { LiveIndex } from './live-index.js';
import type { IndexChange, OciIndexFile, RepositoryTransaction } from './store.js';

/** A journal smaller than this is never folded for its size (only when idle). */
export const FOLD_MIN_BYTES = 256 * 1024;
/** A repository's journal is folded once it has had no change for this long. */
export const IDLE_FOLD_MS = 1000;

interface RepositoryIndex {
  /** Identity of index.json as last read or written here: a change by another process shows. */
  stamp: string;
  live: LiveIndex;
  indexBytes: number;
  /** Bytes of journal lines this index holds beyond index.json. */
  journalBytes: number;
  /** The journal has lines (or a torn end) this process did not write: fold before appending. */
  foldFirst: boolean;
  /** index.json is being replaced by this process: readers trust memory meanwhile. */
  writing: boolean;
}

export interface FsIndexesOptions {
  layout: Layout;
  locks: KeyedMutex;
  /** Where a repository file is written before its rename into place. */
  tempFile(name: string): Promise<string>;
  /** The transaction of a repository whose lock the caller holds. */
  transaction(name: string): RepositoryTransaction;
}

export class FsIndexes {
  private readonly states = new Map<string, RepositoryIndex>();
  private readonly writers = new Map<string, JournalWriter>();
  private readonly idle = new Map<string, NodeJS.Timeout>();
  /** Repositories whose journal this process appended to since their last fold. */
  private readonly appended = new Set<string>();
  private readonly groups = new GroupCommit((name, take) => this.options.locks.run(name, () => this.commit(name, take())));

  constructor(private readonly options: FsIndexesOptions) {}

  /**
   * The index as it stands (journal included); NAME_UNKNOWN when the repository has none. Takes no
   * lock (callers may hold it): a state read from disk here is kept only where none was, so it
   * never replaces the one a group is being written to.
   */
  async read(name: string): Promise<OciIndexFile> {
    const before = this.states.get(name);
    if (before?.writing) return before.live.snapshot();
    const stamp = await this.stampOf(name);
    const state = this.states.get(name);
    if (state && (state.writing || state.stamp === stamp)) return state.live.snapshot();
    const loaded = await this.load(name);
    if (!this.states.has(name)) this.states.set(name, loaded);
    return loaded.live.snapshot();
  }

  /**
   * The index's version as on disk: the journal's size, then index.json's identity. In that order:
   * a fold between the two (index.json replaced, then the journal removed) gives a pair that never
   * stood, not the version before the journal's first line; a push between them, the version before it.
   */
  async version(name: string): Promise<string> {
    let journal = 0;
    try {
      journal = (await stat(this.options.layout.indexJournal(name))).size;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    return `${await this.stampOf(name)}+${journal}`;
  }

  /** `read` for a caller holding the repository's lock. */
  async readLocked(name: string): Promise<OciIndexFile> {
    return (await this.current(name)).live.snapshot();
  }

  change<T>(name: string, change: IndexChange<T>): Promise<T> {
    return this.groups.submit(name, change);
  }

  /** Replaces the index whole (caller holds the lock): a fold of exactly `index`. */
  async writeLocked(name: string, index: OciIndexFile): Promise<void> {
    const state = this.states.get(name);
    const next: RepositoryIndex = { stamp: '', live: new LiveIndex(index), indexBytes: 0, journalBytes: state?.journalBytes ?? 0, foldFirst: true, writing: false };
    // Forget the old state first: if the write fails, the next reader loads what is on disk.
    this.states.delete(name);
    await this.fold(name, next);
    this.states.set(name, next);
  }

  /**
   * Forgets a repository being removed (caller holds the lock): its journal goes, with what this
   * process held of it, so a repository made again under the name starts from its new index.json.
   */
  async forget(name: string): Promise<void> {
    clearTimeout(this.idle.get(name));
    this.idle.delete(name);
    this.appended.delete(name);
    this.states.delete(name);
    await this.writer(name).remove();
    this.writers.delete(name);
  }

  /** Folds every journal: this process's and those an earlier one left. */
  async flush(): Promise<void> {
    const names = new Set([...this.states].filter(([, state]) => state.journalBytes > 0 || state.foldFirst).map(([name]) => name));
    for (const file of await listJournals(this.options.layout.indexJournals())) {
      const { repository } = await readJournal(file);
      if (repository !== undefined && isValidName(repository) && this.options.layout.indexJournal(repository) === file) names.add(repository);
      // A journal with no whole line holds nothing anyone was told is stored.
      else await new JournalWriter(file, '').remove();
    }
    for (const name of names) {
      await this.options.locks.run(name, async () => {
        let state: RepositoryIndex;
        try {
          state = await this.current(name);
        } catch (error) {
          if (!isErrorKey(error, 'NAME_UNKNOWN')) throw error;
          // The repository is gone (removed by hand): so is what its journal said.
          await this.writer(name).remove();
          this.writers.delete(name);
          return;
        }
        if (state.journalBytes > 0 || state.foldFirst) await this.fold(name, state);
      });
    }
  }

  /**
   * Folds what this process journaled, and lets go of files and timers. Journals it only read are
   * left alone: a process that reads beside a server (`berth scrub`) must not write.
   */
  async close(): Promise<void> {
    for (const timer of this.idle.values()) clearTimeout(timer);
    this.idle.clear();
    for (const name of [...this.appended]) {
      await this.options.locks.run(name, async () => {
        const state = this.states.get(name);
        if (state && this.appended.has(name)) await this.fold(name, state);
      });
    }
    await Promise.all([...this.writers.values()].map((writer) => writer.close()));
    this.writers.clear();
  }

  /** One group, under the repository's lock: prepare, apply, one journal line, answers, maybe a fold. */
  private async commit(name: string, group: Waiting[]): Promise<void> {
    const state = await this.current(name);
    if (state.foldFirst) await this.fold(name, state);
    const outcomes = await runGroup(group, this.options.transaction(name), state.live);
    const delta = state.live.takeDelta();
    if (delta) {
      try {
        state.journalBytes += await this.writer(name).append(delta);
        this.appended.add(name);
      } catch (error) {
        // Memory is now ahead of the disk, and the journal may end in a torn line: forget both,
        // so the next group reads what is on disk and folds before appending.
        this.states.delete(name);
        await this.writer(name)
          .close()
          .catch(() => undefined);
        this.writers.delete(name);
        answer(outcomes, error);
        return;
      }
    }
    answer(outcomes);
    if (state.journalBytes >= Math.max(state.indexBytes, FOLD_MIN_BYTES)) await this.fold(name, state).catch(() => this.foldWhenIdle(name));
    else if (state.journalBytes > 0) this.foldWhenIdle(name);
  }

  private foldWhenIdle(name: string): void {
    const timer = this.idle.get(name);
    if (timer) {
      timer.refresh();
      return;
    }
    const fold = () => {
      this.idle.delete(name);
      void this.options.locks
        .run(name, async () => {
          const state = this.states.get(name);
          if (state && state.journalBytes > 0) await this.fold(name, state);
        })
        // The journal keeps everything: the next group, flush or idle period tries again.
        .catch(() => undefined);
    };
    this.idle.set(name, setTimeout(fold, IDLE_FOLD_MS).unref());
  }

  /** Writes index.json from `state` and removes the journal (caller holds the lock). */
  private async fold(name: string, state: RepositoryIndex): Promise<void> {
    const file = this.options.layout.index(name);
    state.writing = true;
    try {
      await writeFileAtomic(file, indexJsonPieces(state.live.snapshot()), await this.options.tempFile(name));
      const info = await stat(file);
      state.stamp = stampOf(info);
      state.indexBytes = info.size;
    } finally {
      state.writing = false;
    }
    await this.writer(name).remove();
    this.writers.delete(name);
    state.journalBytes = 0;
    state.foldFirst = false;
    this.appended.delete(name);
    clearTimeout(this.idle.get(name));
    this.idle.delete(name);
  }

  /** The state of `name`, reloaded when index.json changed on disk (caller holds the lock). */
  private async current(name: string): Promise<RepositoryIndex> {
    const state = this.states.get(name);
    if (state?.stamp === (await this.stampOf(name))) return state;
    const loaded = await this.load(name);
    // This process's own journal writer, if any, belongs to the state it replaces.
    await this.writers.get(name)?.close();
    this.writers.delete(name);
    this.states.set(name, loaded);
    return loaded;
  }

  /** index.json with the journal replayed over it, as on disk now. */
  private async load(name: string): Promise<RepositoryIndex> {
    // The journal first, then index.json: a fold between the two reads then only replays lines
    // index.json already holds.
    const journal = await readJournal(this.options.layout.indexJournal(name));
    const file = this.options.layout.index(name);
    let text: string;
    let info: Stats;
    try {
      // The stamp before the text: a file replaced in between is read again next time, never
      // taken for current when it is not.
      info = await stat(file);
      text = await readFile(file, 'utf8');
    } catch (error) {
      if (isNotFound(error)) throw new RegistryError('NAME_UNKNOWN', { name });
      throw error;
    }
    const live = new LiveIndex(parseIndex(text, file));
    for (const delta of journal.deltas) live.apply(delta);
    return { stamp: stampOf(info), live, indexBytes: info.size, journalBytes: journal.bytes, foldFirst: journal.size > 0, writing: false };
  }

  private async stampOf(name: string): Promise<string> {
    try {
      return stampOf(await stat(this.options.layout.index(name)));
    } catch (error) {
      if (isNotFound(error)) throw new RegistryError('NAME_UNKNOWN', { name });
      throw error;
    }
  }

  private writer(name: string): JournalWriter {
    let writer = this.writers.get(name);
    if (!writer) {
      writer = new JournalWriter(this.options.layout.indexJournal(name), name);
      this.writers.set(name, writer);
    }
    return writer;
  }
}

function stampOf(info: Stats): string {
  return `${info.ino}:${info.size}:${info.mtimeMs}`;
}

function parseIndex(text: string, file: string): OciIndexFile {
  const index = JSON.parse(text) as OciIndexFile;
  if (typeof index !== 'object' || index === null || !Array.isArray(index.manifests)) {
    throw new Error(`${file} is not an OCI index`);
  }
  return index;
}
