/**
 * The repository names the UI's list shows, without waiting for the storage walk that starts with
 * the server (5,000 repository folders: a few hundred ms, which the first list page waited out).
 * The walk's result is saved as a registry-wide derived record (`#names`); until this process's
 * walk is done, the list is answered from that record. It is a cache like every derived record: a
 * name gone since is skipped by the page (its index cannot be read), one added by another program
 * meanwhile shows once the walk is done. `_catalog` never reads it: it answers from storage.
 */
import type { Store } from '../storage/store.js';

const RECORD = '#names';
/** A changed list is saved at most this often (5,000 names: about 100 KB). */
const SAVE_EVERY_MS = 10_000;

export class ListedNames {
  private saved: Promise<readonly string[] | undefined> | undefined;
  private walked = false;
  private lastSaved: readonly string[] | undefined;
  private saving: NodeJS.Timeout | undefined;
  private savedOnce = false;

  constructor(
    private readonly store: Store,
    private readonly saveEveryMs = SAVE_EVERY_MS,
  ) {}

  /** The store's sorted list once its walk is done; before that, the one saved by the last walk (if any). */
  async list(): Promise<readonly string[]> {
    const live = this.store.listRepositories().then((names) => {
      this.walked = true;
      this.save(names);
      return names;
    });
    if (this.walked) return live;
    this.saved ??= this.read();
    const first = await Promise.race([live, this.saved]);
    // The saved list only stands in while the walk runs; a missing one means waiting for the walk.
    return first ?? live;
  }

  private async read(): Promise<readonly string[] | undefined> {
    const text = await this.store.readDerived(RECORD).catch(() => '');
    if (!text.endsWith('\n')) return undefined; // none, or torn: wait for the walk
    const names = Object.freeze(text.split('\n').filter((name) => name !== ''));
    this.lastSaved = names;
    return names;
  }

  /**
   * Saves `names` (a new array whenever the store's list changed): at once after the first walk
   * (a server may not live long), then at most every `saveEveryMs`.
   */
  private save(names: readonly string[]): void {
    if (this.saving || names === this.lastSaved) return;
    const wait = this.savedOnce ? this.saveEveryMs : 0;
    this.savedOnce = true;
    this.saving = setTimeout(() => {
      this.saving = undefined;
      void this.store
        .listRepositories()
        .then((latest) => {
          if (sameNames(latest, this.lastSaved)) return;
          this.lastSaved = latest;
          return this.store.replaceDerived(RECORD, latest.length === 0 ? '\n' : `${latest.join('\n')}\n`);
        })
        .catch(() => undefined);
    }, wait).unref();
  }
}

function sameNames(a: readonly string[], b: readonly string[] | undefined): boolean {
  return b !== undefined && a.length === b.length && a.every((name, at) => name === b[at]);
}
