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
import { HTTP, type CloudEvent } from 'cloudevents';
import type { EventSinkConfig } from '../config/config.js';
import { DeliveryError, type Sink } from './sink.js';

const MAX_ANSWER_BYTES = 4096;

export class HttpSink implements Sink {
  private readonly url: URL;
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
    const credentials = config.credentials;
    if (credentials?.token !== undefined) this.authorization = `Bearer ${credentials.token}`;
    else if (credentials?.username !== undefined) this.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password ?? ''}`).toString('base64')}`;
  }

  async send(event: CloudEvent<unknown>): Promise<void> {
    const withChannel = this.config.channel ? event.cloneWith({ channel: this.config.channel } as Partial<CloudEvent<unknown>>, false) : event;
    const message = HTTP.binary(withChannel);
    const body = Buffer.from(typeof message.body === 'string' ? message.body : JSON.stringify(message.body));
    const headers: Record<string, string | number> = { ...this.config.headers, ...(message.headers as Record<string, string>), 'content-length': body.length };
    if (this.authorization) headers.authorization = this.authorization;
    const client = this.url.protocol === 'https:' ? https : http;
    await new Promise<void>((resolve, reject) => {
      const request = client.request(this.url, { method: 'POST', headers, agent: this.agent, timeout: this.config.timeoutMs }, (response) => {
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
