/**
 * The HTTP sink: one POST per event in CloudEvents binary mode (`ce-*` headers, the data as the
 * body), as zot's sdk-go client sends it. The sink's address is the operator's choice, yet what it
 * answers is not trusted: redirects are never followed (a 3xx is a failed delivery, so an event
 * cannot be steered to another host), at most 4 KiB of the answer is read, and the whole exchange
 * ends at `timeout`.
 *
 * The POST goes out through undici's lowest layer (`dispatch` with a handler of our own, one
 * keep-alive connection, as delivery to a sink is sequential): measured paced like pushes, it costs
 * a delivery about half the CPU of node:http's client, and delivery runs beside every push.
 */
import { readFileSync } from 'node:fs';
import { Client, type Dispatcher } from 'undici';
import type { EventSinkConfig } from '../config/config.js';
import { binaryMessage, type StoredEvent } from './cloud-event.js';
import { DeliveryError, type Sink } from './sink.js';

const MAX_ANSWER_BYTES = 4096;

export class HttpSink implements Sink {
  private readonly client: Client;
  /** The request's path and query, and the headers every POST carries (made once). */
  private readonly path: string;
  private readonly fixedHeaders: Record<string, string>;
  private readonly extensions: Record<string, string>;

  constructor(private readonly config: EventSinkConfig) {
    const url = new URL(config.address);
    const tls = config.tls;
    this.client = new Client(url.origin, {
      headersTimeout: config.timeoutMs,
      bodyTimeout: config.timeoutMs,
      connect: {
        timeout: config.timeoutMs,
        ...(tls?.caCertFile ? { ca: readFileSync(tls.caCertFile) } : {}),
        ...(tls?.certFile && tls.keyFile ? { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } : {}),
      },
    });
    this.path = url.pathname + url.search;
    this.extensions = config.channel ? { channel: config.channel } : {};
    this.fixedHeaders = { ...config.headers };
    const credentials = config.credentials;
    if (credentials?.token !== undefined) this.fixedHeaders.authorization = `Bearer ${credentials.token}`;
    else if (credentials?.username !== undefined) this.fixedHeaders.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password ?? ''}`).toString('base64')}`;
  }

  send(event: StoredEvent): Promise<void> {
    const { headers: ce, body } = binaryMessage(event, this.extensions);
    const headers = { ...this.fixedHeaders, ...ce };
    const timeoutMs = this.config.timeoutMs;
    return new Promise<void>((resolve, reject) => {
      let status = 0;
      let seen = 0;
      let settled = false;
      let control: Dispatcher.DispatchController | undefined;
      const settle = (error?: DeliveryError) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        if (error) reject(error);
        else resolve();
      };
      // The timeouts above cover silence; this covers a sink that trickles bytes forever.
      const deadline = setTimeout(() => {
        settle(new DeliveryError(`no answer within ${timeoutMs} ms`, false));
        control?.abort(new Error('timeout'));
      }, timeoutMs);
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(controller) {
          control = controller;
          if (settled) controller.abort(new Error('timeout'));
        },
        onResponseStart(_controller, statusCode) {
          status = statusCode;
        },
        onResponseData(controller, chunk) {
          seen += chunk.length;
          // Enough to know the answer; a sink that keeps talking is cut off, its status stands.
          if (seen > MAX_ANSWER_BYTES) {
            settle(verdict(status));
            controller.abort(new Error('answer too long'));
          }
        },
        onResponseEnd() {
          settle(verdict(status));
        },
        onResponseError(_controller, error) {
          const code = (error as NodeJS.ErrnoException).code;
          settle(new DeliveryError(code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' ? `no answer within ${timeoutMs} ms` : (code ?? error.message), false));
        },
      };
      this.client.dispatch({ path: this.path, method: 'POST', headers, body }, handler);
    });
  }

  async close(): Promise<void> {
    await this.client.destroy();
  }
}

/** What an answer's status means: accepted, worth retrying, or refused for good. */
function verdict(status: number): DeliveryError | undefined {
  if (status >= 200 && status < 300) return undefined;
  if (status >= 300 && status < 400) return new DeliveryError(`answered ${status} (a redirect, not followed)`, false);
  return new DeliveryError(`answered ${status}`, status >= 400 && status < 500 && status !== 408 && status !== 429);
}
