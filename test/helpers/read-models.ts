/**
 * The UI's read models over a real FsStore, as a server wires them (registry writes reach the
 * insights), with every read that reaches the store counted: the read-model tests assert that a
 * page reads only what it shows.
 */
import { RepositoryInsights } from '../../src/browse/repository-insights.js';
import { Registry } from '../../src/registry/registry.js';
import { FsStore } from '../../src/storage/fs-store.js';

const opened: FsStore[] = [];

/** A server's worth of services over `root`, counting manifest, index and derived-record reads. */
export function openReadModels(root: string) {
  const store = new FsStore(root, { dedupe: false });
  opened.push(store);
  const manifestReads: string[] = [];
  const indexReads: string[] = [];
  const recordReads: string[] = [];
  const readSmallBlob = store.readSmallBlob.bind(store);
  store.readSmallBlob = async (name, digest) => {
    manifestReads.push(`${name}@${digest.value}`);
    return readSmallBlob(name, digest);
  };
  const readIndex = store.readIndex.bind(store);
  store.readIndex = async (name) => {
    indexReads.push(name);
    return readIndex(name);
  };
  const readDerived = store.readDerived.bind(store);
  store.readDerived = async (key) => {
    recordReads.push(key);
    return readDerived(key);
  };
  const registry = new Registry(store);
  const insights = new RepositoryInsights(store, registry.catalog);
  registry.manifests.afterWrite(async (writes) => insights.noteWrites(writes));
  return { store, registry, insights, manifestReads, indexReads, recordReads };
}

export type OpenedReadModels = ReturnType<typeof openReadModels>;

/** Closes every store `openReadModels` opened (an afterAll). */
export async function closeReadModels(): Promise<void> {
  await Promise.all(opened.splice(0).map((store) => store.close()));
}
