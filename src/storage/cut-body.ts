/**
 * A request body that may be cut: the client goes away, or sends nothing for the idle limit
 * (http/body-time.ts destroys the request). An upload keeps the bytes that arrived before the cut,
 * as the CNCF registry does, so the client can ask for the session's offset and send the rest.
 * Failures of the store itself are not cuts: they still undo the whole chunk.
 */
import type { Readable } from 'node:stream';
import { bufferChurn } from './buffer-churn.js';

export interface Cut {
  /** Why the body ended early, once it has. */
  error?: unknown;
}

/**
 * The body's chunks, ending quietly where the body was cut (the error is kept in `cut`). Not
 * `for await (… of body)`: ending that loop early destroys the request and its socket, and a
 * client whose write failed (ENOSPC) would never get its error response.
 */
export async function* untilCut(body: Readable, cut: Cut): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      bufferChurn.note(chunk.length);
      yield chunk;
    }
  } catch (error) {
    cut.error = error;
  }
}
