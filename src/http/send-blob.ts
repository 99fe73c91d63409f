/**
 * Sends a blob (or one byte range of it) with two buffers used in turn: one is filled from the
 * file while the other is being written to the socket, and a buffer is reused only once its write
 * has completed. Serving a blob thus allocates 512 KiB once instead of a buffer per read.
 */
import type { FastifyReply } from 'fastify';
import type { BlobReader } from '../storage/store.js';

const CHUNK = 256 * 1024;

export async function sendBlob(reply: FastifyReply, reader: BlobReader, start: number, end: number): Promise<void> {
  reply.hijack();
  const response = reply.raw;
  response.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string | number>);
  const buffers = [Buffer.allocUnsafe(Math.min(CHUNK, end - start + 1)), Buffer.allocUnsafe(Math.min(CHUNK, end - start + 1))];
  const writes: Array<Promise<void>> = [Promise.resolve(), Promise.resolve()];
  let failure: unknown;
  const write = (chunk: Buffer) =>
    new Promise<void>((resolve) =>
      response.write(chunk, (error) => {
        if (error) failure ??= error;
        resolve();
      }),
    );
  try {
    let position = start;
    for (let turn = 0; position <= end && failure === undefined && !response.destroyed; turn ^= 1) {
      await writes[turn];
      const buffer = buffers[turn]!;
      const bytes = await reader.read(buffer.subarray(0, Math.min(buffer.length, end - position + 1)), position);
      if (bytes === 0) throw new Error(`blob ended at ${position}, before its size ${reader.size}`);
      writes[turn] = write(buffer.subarray(0, bytes));
      position += bytes;
    }
    await Promise.all(writes);
    if (failure === undefined && !response.destroyed) response.end();
  } catch (error) {
    // Headers are gone: the only honest signal left is a cut connection.
    reply.log.error({ err: error }, 'blob read failed mid-response');
    response.destroy(error as Error);
  } finally {
    await reader.close();
  }
}
