/**
 * Reads an S3 object through the BlobReader interface: sequential reads are served from ONE
 * streaming ranged GET (`Range: bytes=<position>-`), so a whole-blob download is one request
 * however many buffers it takes. A read at any other position than where the stream stands (the
 * first read of a Range request, a seek) drops the stream and opens a new one there.
 */
import type { Readable } from 'node:stream';
import type { Bucket } from './s3-bucket.js';
import type { BlobReader } from './store.js';
import { bufferChurn } from './buffer-churn.js';

export class S3BlobReader implements BlobReader {
  private stream: Readable | undefined;
  private chunks: AsyncIterator<Buffer> | undefined;
  /** Where the next byte of the stream (or of `pending`) sits in the object. */
  private streamPosition = 0;
  /** The unread end of the last chunk pulled from the stream. */
  private pending: Buffer | undefined;
  private closed = false;

  constructor(
    private readonly bucket: Bucket,
    private readonly key: string,
    readonly size: number,
  ) {}

  async read(buffer: Buffer, position: number): Promise<number> {
    if (this.closed) throw new Error('read from a closed blob reader');
    if (position >= this.size || buffer.length === 0) return 0;
    if (!this.chunks || position !== this.streamPosition) await this.open(position);
    const wanted = Math.min(buffer.length, this.size - position);
    let filled = 0;
    while (filled < wanted) {
      let chunk = this.pending;
      this.pending = undefined;
      if (!chunk) {
        const next = await this.chunks!.next();
        if (next.done) {
          this.drop();
          throw new Error(`object ${this.key} ended at ${position + filled}, before its size ${this.size}`);
        }
        chunk = next.value;
        bufferChurn.note(chunk.length);
      }
      const take = Math.min(chunk.length, wanted - filled);
      chunk.copy(buffer, filled, 0, take);
      filled += take;
      if (take < chunk.length) this.pending = chunk.subarray(take);
    }
    this.streamPosition += filled;
    return filled;
  }

  private async open(position: number): Promise<void> {
    this.drop();
    // No If-Match: a blob's key is its digest, so whatever object is there holds the same bytes.
    const { body } = await this.bucket.getStream(this.key, position);
    this.stream = body;
    this.chunks = body.iterator({ destroyOnReturn: true }) as AsyncIterator<Buffer>;
    this.streamPosition = position;
  }

  /** Destroys the stream: its socket goes too, rather than reading the rest of the object to reuse it. */
  private drop(): void {
    this.stream?.destroy();
    this.stream = undefined;
    this.chunks = undefined;
    this.pending = undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.drop();
  }
}
