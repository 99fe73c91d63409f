/** What the sync module's parts share: its observer (metrics), its log, a source of a repository, a blob being pulled. */
import type { Readable } from 'node:stream';
import type { Upstream, UpstreamLog } from './upstream.js';

export interface SyncObserver {
  /** A pull answered locally (`hit`) or from an upstream (`miss`). */
  served(kind: 'manifest' | 'blob', outcome: 'hit' | 'miss'): void;
  /** Bytes fetched from an upstream. */
  fetched(upstream: string, kind: 'manifest' | 'blob', bytes: number): void;
  /** A fetch that failed, by how. */
  failed(upstream: string, failure: string): void;
  /** A freshness check: the tag had not moved, had moved, is not upstream (pushed here), or the upstream did not answer. */
  checked(upstream: string, outcome: 'same' | 'moved' | 'absent' | 'unreachable'): void;
}

export const UNOBSERVED_SYNC: SyncObserver = { served: () => undefined, fetched: () => undefined, failed: () => undefined, checked: () => undefined };

export interface SyncLog extends UpstreamLog {
  info(facts: object, message: string): void;
  error(facts: object, message: string): void;
}

/** Where a local repository comes from: an upstream and the repository's name there. */
export interface Source {
  upstream: Upstream;
  remote: string;
}

/** A blob for the client: its size (when known) and its bytes as they arrive. */
export interface PulledBlob {
  size: number | undefined;
  body: Readable;
}
