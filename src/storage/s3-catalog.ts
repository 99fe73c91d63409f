/**
 * The S3 store's list of repositories and what this replica knows exists: one walk of the bucket
 * ("folders" holding an index.json, at any depth), kept sorted, shared with the other replicas
 * through two generations in the coordination (Redis): the catalog's (changed by any creation or
 * removal: the others walk again) and the removals' (only by a removal: the others forget which
 * repositories they know exist, so a push there makes the repository again).
 */
import { randomBytes } from 'node:crypto';
import { isValidName } from '../oci/names.js';
import type { Coordination } from '../coordination/coordination.js';
import { Layout, type ObjectKeys } from './layout.js';
import type { Bucket } from './s3-bucket.js';
import { SortedNames } from './sorted-names.js';

/**
 * How long a catalog walk is reused; repositories this process creates are added at once, and one
 * another replica creates is seen at the next request through the shared catalog generation.
 */
const CATALOG_TTL_MS = 5_000;
const CATALOG_GENERATION = 'generation';
/** Changed only when a replica removes a repository: the others forget which repositories they know exist. */
const REMOVALS_GENERATION = 'removals';

export class S3Catalog {
  private readonly known = new Set<string>();
  /** The removals generation `known` holds for (see `stillKnown`). */
  private knownRemovals: string | undefined;
  private catalog: { at: number; generation: string | undefined; names: SortedNames } | undefined;

  constructor(
    private readonly bucket: Bucket,
    private readonly keys: ObjectKeys,
    private readonly coordination: Coordination,
  ) {}

  /** Whether this replica made sure of `name` (it may since have been removed elsewhere: `stillKnown`). */
  has(name: string): boolean {
    return this.known.has(name);
  }

  /**
   * Whether `name` is known to exist without asking S3: made sure of by this replica, and no
   * replica removed a repository since (a removal changes the removals generation, and this replica
   * then forgets what it knew). Creations elsewhere do not make it forget.
   */
  async stillKnown(name: string): Promise<boolean> {
    if (!this.known.has(name)) return false;
    // Without Redis (unreachable) the last generation seen stands: a removal elsewhere then shows
    // when this replica next reads the missing index.json.
    const removals = await this.records()
      .get(REMOVALS_GENERATION)
      .catch(() => this.knownRemovals);
    if (removals !== this.knownRemovals) {
      this.known.clear();
      this.knownRemovals = removals;
    }
    return this.known.has(name);
  }

  /** `name` exists (made or found here); `created`: this replica made it, the others are told. */
  async added(name: string, created: boolean): Promise<void> {
    this.known.add(name);
    this.catalog?.names.add(name);
    if (created) await this.bump(CATALOG_GENERATION);
  }

  /** `name` is not a repository (its index.json is missing): no longer known here. */
  forget(name: string): void {
    this.known.delete(name);
  }

  /** This replica removed `name`: gone from its list, and the others are told. */
  async removed(name: string): Promise<void> {
    this.known.delete(name);
    this.catalog?.names.remove(name);
    await Promise.all([this.bump(REMOVALS_GENERATION), this.bump(CATALOG_GENERATION)]);
  }

  /** Every repository, sorted: one shared, frozen array. */
  async list(): Promise<readonly string[]> {
    // Reads work without Redis: an unreachable generation only means the TTL decides alone.
    const generation = await this.records()
      .get(CATALOG_GENERATION)
      .catch(() => this.catalog?.generation);
    if (!this.catalog || this.catalog.generation !== generation || Date.now() - this.catalog.at > CATALOG_TTL_MS) {
      this.catalog = { at: Date.now(), generation, names: new SortedNames(await this.walk('')) };
    }
    return this.catalog.names.all;
  }

  /** Tells the other replicas something changed; without Redis they find out within the TTL. */
  private async bump(key: string): Promise<void> {
    await this.records()
      .set(key, randomBytes(8).toString('hex'))
      .catch(() => undefined);
  }

  private records() {
    return this.coordination.records<string>('catalog');
  }

  /** Repositories at or below `prefix`: "folders" (Delimiter '/') holding an index.json, at any depth. */
  private async walk(prefix: string): Promise<string[]> {
    const folder = this.keys.folder(prefix);
    if (folder === undefined) return [];
    const indexKey = prefix === '' ? undefined : this.keys.index(prefix);
    let isRepository = false;
    const children: string[] = [];
    for await (const page of this.bucket.pages(folder, '/')) {
      if (page.objects.some((object) => object.key === indexKey)) isRepository = true;
      for (const child of page.folders) {
        const entry = child.slice(folder.length, -1);
        if (!Layout.isSkippedFolder(entry)) children.push(prefix === '' ? entry : `${prefix}/${entry}`);
      }
    }
    const nested = await Promise.all(children.map((child) => this.walk(child)));
    return (isRepository && isValidName(prefix) ? [prefix] : []).concat(...nested);
  }
}
