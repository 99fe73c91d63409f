/**
 * What the manifest service tells listeners after a write is durable (the index saved): the facts
 * an event needs, and who acted. The request is answered only once the listeners' promises resolve,
 * so one that keeps a durable record (the events outbox) has it before the client sees success; a
 * refused or failed write never reaches them.
 */

/** Who made the write: the fields of access's Identity an event carries (kept structural, so registry need not import access). */
export interface Actor {
  readonly username?: string;
  readonly method?: string;
  readonly provider?: string;
}

export type ManifestWrite =
  /** The first manifest of a repository that held none. */
  | { kind: 'repository-created'; name: string; actor?: Actor }
  /** A manifest stored by tag or digest (a new image, or a tag moved). */
  | { kind: 'image-updated'; name: string; reference: string; digest: string; mediaType: string; manifest: Buffer; actor?: Actor }
  /** A tag or a manifest removed. */
  | { kind: 'image-deleted'; name: string; reference: string; digest: string; mediaType: string; actor?: Actor };

/**
 * Called once a write is durable, under the repository's lock and in the order of its writes (even
 * across replicas): what it must order (an outbox's sequence numbers) it does before returning its
 * promise; the request waits for the promise, and fails if it rejects.
 */
export type ManifestWriteListener = (writes: ManifestWrite[]) => Promise<void>;
