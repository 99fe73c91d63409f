/**
 * The UI list's names after a restart: answered from the names the last walk saved while this
 * process's walk of the storage still runs, then from the walk; a torn or missing record waits for
 * the walk. Over a real FsStore whose walk the test holds back.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ListedNames } from '../../../src/browse/listed-names.js';
import { FsStore } from '../../../src/storage/fs-store.js';
import { scratchDir } from '../../helpers/scratch.js';

const opened: FsStore[] = [];
afterAll(() => Promise.all(opened.map((store) => store.close())));

/** A store over `root` whose first listing waits until `release()` (a walk that takes its time). */
function slowStore(root: string) {
  const store = new FsStore(root, { dedupe: false });
  opened.push(store);
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const list = store.listRepositories.bind(store);
  store.listRepositories = async () => {
    await held;
    return list();
  };
  return { store, release };
}

const until = async (check: () => Promise<boolean>) => {
  for (let tries = 0; tries < 200 && !(await check()); tries++) await new Promise((resolve) => setTimeout(resolve, 10));
};

describe('the names the repository list shows', () => {
  it('come from the last walk while this process walks, then from the walk; a changed list is saved', async () => {
    const root = await scratchDir('listed-names');
    const first = new FsStore(root, { dedupe: false });
    opened.push(first);
    for (const name of ['a/app', 'b/app']) await first.ensureRepository(name);
    const names = new ListedNames(first, 5);
    expect(await names.list()).toEqual(['a/app', 'b/app']);
    await until(async () => (await first.readDerived('#names')) !== '');
    expect(await first.readDerived('#names')).toBe('a/app\nb/app\n');

    // A restart: another program added c/app meanwhile; the walk has not finished.
    await new FsStore(root, { dedupe: false }).ensureRepository('c/app');
    const { store, release } = slowStore(root);
    const restarted = new ListedNames(store, 5);
    expect(await restarted.list()).toEqual(['a/app', 'b/app']);
    release();
    await store.listRepositories(); // the walk is done
    expect(await restarted.list()).toEqual(['a/app', 'b/app', 'c/app']);
    await until(async () => (await store.readDerived('#names')).includes('c/app'));
    expect(await store.readDerived('#names')).toBe('a/app\nb/app\nc/app\n');
  });

  it('wait for the walk when the saved record is missing or torn', async () => {
    const root = await scratchDir('listed-names-torn');
    const seed = new FsStore(root, { dedupe: false });
    opened.push(seed);
    await seed.ensureRepository('a/app');
    await seed.replaceDerived('#names', 'a/app\nb/ap');
    const { store, release } = slowStore(root);
    const names = new ListedNames(store, 5);
    let answered = false;
    const listed = names.list().then((all) => ((answered = true), all));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(answered).toBe(false);
    release();
    expect(await listed).toEqual(['a/app']);
  });
});
