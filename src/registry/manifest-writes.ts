/**
 * What the manifest service tells listeners after a write is durable (the index saved): the facts
 * an event needs, and who acted. Listeners run before the request is answered, so one that keeps a
 * durable record (the events outbox) has it before the client sees success; a refused or failed
 * write never reaches them.
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

/** Awaited after each write, in the order of writes to one repository; may throw to fail the request. */
export type ManifestWriteListener = (writes: ManifestWrite[]) => Promise<void>;
