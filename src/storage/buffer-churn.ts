/**
 * Dead transfer buffers, collected while a transfer runs. Every network read of an upload (and
 * every chunk of an S3 object stream) is a fresh ArrayBuffer of up to 64 KiB that dies as soon as
 * it is hashed and written. V8 frees such buffers only at a garbage collection, and it starts one
 * for external memory only after tens of MiB: a 256 MiB push held up to 60 MiB of dead buffers,
 * and malloc kept their pages, so Berth's resident memory stayed ~35 MiB higher after one push.
 *
 * When the process runs with `--expose-gc` (`npm start`, the container image and the bench pass
 * it), a minor collection (a scavenge of the 4 MiB young generation, well under a millisecond)
 * runs after every CHURN_BYTES transferred, which frees them. Without the flag nothing happens and
 * memory is only higher. It also costs less CPU than it spends: malloc hands the freed blocks
 * straight back to the next reads instead of fresh pages, and V8 no longer runs full collections
 * for external memory (1 GiB pushed: GC 1.4 s without, 0.3-0.6 s with, at 2 to 8 MiB).
 */

/** Bytes transferred between two minor collections. */
export const CHURN_BYTES = 4 * 1024 * 1024;

type Collect = (options: { type: 'minor' }) => void;

export class BufferChurn {
  private since = 0;

  constructor(private readonly collect: Collect | undefined) {}

  /** Counts `bytes` that just passed through, collecting once CHURN_BYTES have. */
  note(bytes: number): void {
    if (!this.collect) return;
    this.since += bytes;
    if (this.since < CHURN_BYTES) return;
    this.since = 0;
    this.collect({ type: 'minor' });
  }
}

/** The process's counter: uploads and S3 object streams all count into it. */
export const bufferChurn = new BufferChurn((globalThis as { gc?: Collect }).gc);
