/**
 * The HTTP sink: one POST per event in CloudEvents binary mode (`ce-*` headers, the data as the
 * body), as zot's sdk-go client sends it. The sink's address is the operator's choice, yet what it
 * answers is not trusted: redirects are never followed (a 3xx is a failed delivery, so an event
 * cannot be steered to another host), at most 4 KiB of the answer is read, and the whole exchange
 * ends at `timeout`.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { urlToHttpOptions } from 'node:url';
import type { EventSinkConfig } from '../config/config.js';
import { binaryMessage, type StoredEvent } from './cloud-event.js';
import { DeliveryError, type Sink } from './sink.js';

const MAX_ANSWER_BYTES = 4096;

export class HttpSink implements Sink {
  private readonly url: URL;
  /** The request's options but its headers, made once (from the URL at each POST, they cost it). */
  private readonly options: http.RequestOptions;
  private readonly client: typeof http | typeof https;
  private readonly extensions: Record<string, string>;
  private readonly agent: http.Agent;
  private readonly authorization: string | undefined;

  constructor(private readonly config: EventSinkConfig) {
    this.url = new URL(config.address);
    const tls = config.tls;
    this.agent =
      this.url.protocol === 'https:'
        ? new https.Agent({
            keepAlive: true,
            ...(tls?.caCertFile ? { ca: readFileSync(tls.caCertFile) } : {}),
            ...(tls?.certFile && tls.keyFile ? { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } : {}),
          })
        : new http.Agent({ keepAlive: true });
    this.options = { ...urlToHttpOptions(this.url), method: 'POST', agent: this.agent, timeout: config.timeoutMs };
    this.client = this.url.protocol === 'https:' ? https : http;
    this.extensions = config.channel ? { channel: config.channel } : {};
    const credentials = config.credentials;
    if (credentials?.token !== undefined) this.authorization = `Bearer ${credentials.token}`;
    else if (credentials?.username !== undefined) this.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password ?? ''}`).toString('base64')}`;
  }

  async send(event: StoredEvent): Promise<void> {
    const { headers: ce, body } = binaryMessage(event, this.extensions);
    const headers: Record<string, string | number> = { ...this.config.headers, ...ce, 'content-length': body.length };
    if (this.authorization) headers.authorization = this.authorization;
    await new Promise<void>((resolve, reject) => {
      const request = this.client.request({ ...this.options, headers }, (response) => {
        let seen = 0;
        const status = response.statusCode ?? 0;
        response.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          // Enough to know the answer; a sink that keeps talking is cut off.
          if (seen > MAX_ANSWER_BYTES) response.destroy();
        });
        const settle = () => {
          clearTimeout(deadline);
          if (status >= 200 && status < 300) return resolve();
          if (status >= 300 && status < 400) return reject(new DeliveryError(`answered ${status} (a redirect, not followed)`, false));
          reject(new DeliveryError(`answered ${status}`, status >= 400 && status < 500 && status !== 408 && status !== 429));
        };
        response.on('end', settle);
        response.on('close', settle);
        response.on('error', () => undefined);
      });
      // The socket timeout covers silence; this covers a sink that trickles bytes forever.
      const deadline = setTimeout(() => request.destroy(new DeliveryError(`no answer within ${this.config.timeoutMs} ms`, false)), this.config.timeoutMs);
      request.on('timeout', () => request.destroy(new DeliveryError(`no answer within ${this.config.timeoutMs} ms`, false)));
      request.on('error', (error) => {
        clearTimeout(deadline);
        reject(error instanceof DeliveryError ? error : new DeliveryError((error as NodeJS.ErrnoException).code ?? error.message, false));
      });
      request.end(body);
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}
