/**
 * Every storage path and every object key is built here, and only from validated names, digests
 * and upload ids. The tree is zot's local layout, so a zot storage root can be served as is; the
 * S3 store keeps the same tree under its key prefix, so tools that read an OCI layout read a bucket:
 *
 *   <rootDirectory>/           (S3: s3://<bucket>/<rootDirectory>/, '' for the bucket's root)
 *     <repository>/            one OCI image layout per repository; names nest (library/alpine)
 *       oci-layout             {"imageLayoutVersion":"1.0.0"}
 *       index.json             manifests[]; a tag is the org.opencontainers.image.ref.name annotation
 *       blobs/<alg>/<hex>      manifests, configs and layers
 *       .uploads/<uuid>        filesystem: bytes of an unfinished upload session, or of a repository
 *                              file (manifest, index.json) about to be renamed into place
 *       .uploads/<uuid>/       S3: one upload session (its state is a coordination record)
 *         created              zero bytes: the session exists, and since when
 *         tail-<n>             the last bytes appended (< one part), generation n
 *         data                 the multipart upload's key: parts while open, all bytes once completed
 *     _berth/<name>.json     Berth's own small documents (the server claim)
 *     _berth/<map>/<sha256>.json   one record of a coordination map of a single process (sessions,
 *                              users, API keys and their indexes, S3 upload sessions), named by the
 *                              SHA-256 of its key
 *     _berth/<name>.jsonl    Berth's append-only logs (the dedupe index)
 *     _berth/index-journal/<sha256>.jsonl   filesystem: changes to one repository's index.json not
 *                              folded into it yet (index-journal.ts), named by the SHA-256 of its name
 *     _berth/derived/<sha256>.jsonl   filesystem: a derived record (the UI's read models) of a
 *                              repository, or the registry's ('' as the name), named by the SHA-256 of its name
 *     _berth/<name>          S3: Berth's own objects (the readiness probe, derived-<sha256> records)
 *     _sessions/, cache.db, meta.db   zot's own files, never repositories
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { assertValidName, isValidName } from '../oci/names.js';
import { parseDigest, type Digest, type DigestAlgorithm } from '../oci/digest.js';

const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUploadId(id: string): boolean {
  return UPLOAD_ID.test(id);
}

export class Layout {
  constructor(readonly root: string) {}

  repository(name: string): string {
    assertValidName(name);
    return path.join(this.root, ...name.split('/'));
  }

  ociLayout(name: string): string {
    return path.join(this.repository(name), 'oci-layout');
  }

  index(name: string): string {
    return path.join(this.repository(name), 'index.json');
  }

  blobFolder(name: string, algorithm: DigestAlgorithm): string {
    return path.join(this.blobsRoot(name), algorithm);
  }

  /** `blobs/`, the parent of the algorithms' folders. */
  blobsRoot(name: string): string {
    return path.join(this.repository(name), 'blobs');
  }

  blob(name: string, digest: Digest): string {
    return path.join(this.blobFolder(name, digest.algorithm), digest.hex);
  }

  uploads(name: string): string {
    return path.join(this.repository(name), '.uploads');
  }

  /** Callers check `isUploadId` first and answer BLOB_UPLOAD_UNKNOWN; this refuses to build a bad path. */
  upload(name: string, id: string): string {
    if (!isUploadId(id)) throw new Error(`refusing to build a path from upload id ${JSON.stringify(id)}`);
    return path.join(this.uploads(name), id);
  }

  /** A document of Berth's own state; `name` is a constant of the caller's, never user input. */
  stateDocument(name: string, extension: 'json' | 'jsonl' = 'json'): string {
    if (!/^[a-z][a-z-]*$/.test(name)) throw new Error(`refusing to build a path from state document ${JSON.stringify(name)}`);
    return path.join(this.root, '_berth', `${name}.${extension}`);
  }

  /** The folder of a map of records (`_berth/<map>/`); `map` is a constant of the caller's. */
  stateRecords(map: string): string {
    if (!/^[a-z][a-z0-9-]*$/.test(map)) throw new Error(`refusing to build a path from records map ${JSON.stringify(map)}`);
    return path.join(this.root, '_berth', map);
  }

  /** The file of one record: its key is anyone's string (a user name), so the name is its SHA-256. */
  stateRecord(map: string, key: string): string {
    return path.join(this.stateRecords(map), `${createHash('sha256').update(key).digest('hex')}.json`);
  }

  /** The folder of the index journals (index-journal.ts). */
  indexJournals(): string {
    return this.stateRecords('index-journal');
  }

  /** The index journal of one repository: named by the SHA-256 of the (validated) name. */
  indexJournal(name: string): string {
    assertValidName(name);
    return path.join(this.indexJournals(), `${createHash('sha256').update(name).digest('hex')}.jsonl`);
  }

  /**
   * A derived record (Store.readDerived): a repository's, or the registry's for ''. A repository's
   * other records (`<name>#<kind>`) sit in a folder of their own, removed with the repository.
   */
  derivedRecord(key: string): string {
    const { name, kind } = derivedKey(key);
    if (kind === undefined) return path.join(this.stateRecords('derived'), `${derivedRecordName(key)}.jsonl`);
    return path.join(this.derivedFolder(name), `${kind}.jsonl`);
  }

  /** The folder of a repository's `<name>#<kind>` records. */
  derivedFolder(name: string): string {
    return path.join(this.stateRecords('derived'), derivedRecordName(name));
  }

  /** Folder names that are never repositories nor hold any: layout folders and zot's private ones. */
  static isSkippedFolder(entry: string): boolean {
    return entry === 'blobs' || entry.startsWith('.') || entry.startsWith('_');
  }
}

/** The SHA-256 (hex) of a derived record's key: '' or a repository name (refused otherwise). */
export function derivedRecordName(key: string): string {
  if (key !== '') assertValidName(key);
  return createHash('sha256').update(key).digest('hex');
}

/**
 * A derived record's key split: '', a repository name, or `<name>#<kind>`, another record of the
 * same repository (its saved view beside its facts) or, for `#<kind>`, of the registry; anything
 * else refused.
 */
function derivedKey(key: string): { name: string; kind?: string } {
  const hash = key.indexOf('#');
  if (hash < 0) return { name: key };
  const kind = key.slice(hash + 1);
  if (!DERIVED_KIND.test(kind)) throw new Error(`refusing derived record key ${JSON.stringify(key)}`);
  // `#<kind>`: another registry-wide record.
  const name = key.slice(0, hash);
  if (name !== '') assertValidName(name);
  return { name, kind };
}

/** A root directory inside a bucket: '' or segments joined by '/', no leading or trailing slash. */
const ROOT_DIRECTORY = /^(?:[A-Za-z0-9_-][A-Za-z0-9._-]*(?:\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*)?$/;
const OBJECT_NAME = /^[a-z][a-z0-9-]*$/;
const DERIVED_KIND = /^[a-z]+[0-9]*$/;

/**
 * Object keys of the S3 store: the tree drawn above under `rootDirectory`. Folders are key
 * prefixes ending in '/'. Keys are never built from anything but validated names, digests, upload
 * ids and the caller's constants.
 */
export class ObjectKeys {
  /** '' or `<rootDirectory>/`: what every key starts with. */
  readonly prefix: string;

  constructor(rootDirectory: string) {
    // Segments never start with '.': no '.', '..' or hidden folders in the prefix.
    if (!ROOT_DIRECTORY.test(rootDirectory)) {
      throw new Error(`rootDirectory ${JSON.stringify(rootDirectory)} must be '' or a key prefix without leading or trailing '/'`);
    }
    this.prefix = rootDirectory === '' ? '' : `${rootDirectory}/`;
  }

  /** `<repository>/`; also the folders on the way to a nested repository (`library/`). */
  repository(name: string): string {
    assertValidName(name);
    return `${this.prefix}${name}/`;
  }

  ociLayout(name: string): string {
    return `${this.repository(name)}oci-layout`;
  }

  index(name: string): string {
    return `${this.repository(name)}index.json`;
  }

  /** `<repository>/blobs/`: every algorithm's blobs. */
  blobs(name: string): string {
    return `${this.repository(name)}blobs/`;
  }

  blob(name: string, digest: Digest): string {
    return `${this.blobs(name)}${digest.algorithm}/${digest.hex}`;
  }

  /** The digest a key under `blobs(name)` names, or undefined when it names none. */
  digestOf(name: string, key: string): Digest | undefined {
    const folder = this.blobs(name);
    if (!key.startsWith(folder)) return undefined;
    const rest = key.slice(folder.length).split('/');
    return rest.length === 2 ? parseDigest(`${rest[0]}:${rest[1]}`) : undefined;
  }

  uploads(name: string): string {
    return `${this.repository(name)}.uploads/`;
  }

  /** `<repository>/.uploads/<uuid>/`: every object of one session. */
  upload(name: string, id: string): string {
    if (!isUploadId(id)) throw new Error(`refusing to build a key from upload id ${JSON.stringify(id)}`);
    return `${this.uploads(name)}${id}/`;
  }

  uploadMarker(name: string, id: string): string {
    return `${this.upload(name, id)}created`;
  }

  uploadTail(name: string, id: string, generation: number): string {
    if (!Number.isSafeInteger(generation) || generation < 0) throw new Error(`refusing to build a key from tail generation ${generation}`);
    return `${this.upload(name, id)}tail-${generation}`;
  }

  uploadData(name: string, id: string): string {
    return `${this.upload(name, id)}data`;
  }

  /** The session a key under `uploads(name)` belongs to, or undefined. */
  uploadIdOf(name: string, key: string): string | undefined {
    const folder = this.uploads(name);
    if (!key.startsWith(folder)) return undefined;
    const id = key.slice(folder.length).split('/')[0] ?? '';
    return isUploadId(id) ? id : undefined;
  }

  /** One of Berth's own objects; `name` is a constant of the caller's (plus a random suffix), never user input. */
  stateObject(name: string): string {
    if (!OBJECT_NAME.test(name)) throw new Error(`refusing to build a key from state object ${JSON.stringify(name)}`);
    return `${this.prefix}_berth/${name}`;
  }

  /** A derived record (Store.readDerived): a repository's, or the registry's for ''; `<name>#<kind>` under the repository's prefix. */
  derivedRecord(key: string): string {
    const { name, kind } = derivedKey(key);
    if (kind === undefined) return this.stateObject(`derived-${derivedRecordName(key)}`);
    return `${this.derivedPrefix(name)}${kind}`;
  }

  /** What the keys of a repository's `<name>#<kind>` records start with. */
  derivedPrefix(name: string): string {
    return this.stateObject(`derived-${derivedRecordName(name)}-`);
  }

  /**
   * The folder to list while looking for repositories: the root for '', else `<prefix>/` after
   * checking that `prefix` could start a repository name (false: nothing below it can be one).
   */
  folder(prefix: string): string | undefined {
    if (prefix === '') return this.prefix;
    return isValidName(prefix) ? `${this.prefix}${prefix}/` : undefined;
  }
}
