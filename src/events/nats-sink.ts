/**
 * The NATS sink: each event published on `channel` in CloudEvents structured mode (the JSON
 * event as the payload), as zot's sdk-go NATS sender does. Core NATS publishing is fire and forget,
 * so a publish counts as accepted only after a flush: the server has answered a PING sent after it.
 * The connection is opened on first use and again after it breaks.
 */
import { readFileSync } from 'node:fs';
import { fromStored, type StoredEvent } from './cloud-event.js';
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import type { EventSinkConfig } from '../config/config.js';
import { DeliveryError, type Sink } from './sink.js';

/** What the client throws for one event that no retry can send (ErrorCode in nats.js). */
const REFUSED = new Set(['MAX_PAYLOAD_EXCEEDED', 'BAD_SUBJECT', 'BAD_PAYLOAD']);

export class NatsSink implements Sink {
  private connection: NatsConnection | undefined;
  private closed = false;
  /** The connects under way, each ended by close(): a send waiting on one ends then, not at the connect timeout. */
  private readonly connecting = new Set<(error: Error) => void>();

  constructor(private readonly config: EventSinkConfig) {}

  private options(): ConnectionOptions {
    const url = new URL(this.config.address);
    const credentials = this.config.credentials;
    const tls = this.config.tls;
    return {
      servers: `${url.hostname}:${url.port || '4222'}`,
      name: 'berth',
      timeout: this.config.timeoutMs,
      // Berth retries on its own schedule; a broken connection is replaced at the next attempt.
      reconnect: false,
      ...(credentials?.username !== undefined ? { user: credentials.username, pass: credentials.password ?? '' } : {}),
      ...(credentials?.token !== undefined ? { token: credentials.token } : {}),
      ...(this.config.natsCredentialsFile ? { authenticator: credsAuthenticator(readFileSync(this.config.natsCredentialsFile)) } : {}),
      ...(url.protocol === 'tls:' || tls
        ? { tls: { ...(tls?.caCertFile ? { caFile: tls.caCertFile } : {}), ...(tls?.certFile ? { certFile: tls.certFile } : {}), ...(tls?.keyFile ? { keyFile: tls.keyFile } : {}) } }
        : {}),
    };
  }

  async send(stored: StoredEvent): Promise<void> {
    const event = fromStored(stored);
    if (this.closed) throw new DeliveryError('the sink is closed', false);
    try {
      if (!this.connection || this.connection.isClosed()) {
        const connection = await this.connect();
        if (this.closed) {
          await connection.close().catch(() => undefined);
          throw new DeliveryError('the sink is closed', false);
        }
        this.connection = connection;
      }
      try {
        this.connection.publish(this.config.channel!, Buffer.from(JSON.stringify(event.toJSON())));
      } catch (error) {
        // The client refuses this event itself, before anything is sent (larger than the server's
        // max_payload, 1 MiB by default, or a subject it rejects): no retry can change that, and the
        // connection is fine. Permanent, like an HTTP 4xx: the loop drops it and goes on.
        const code = (error as { code?: string }).code;
        if (code && REFUSED.has(code)) throw new DeliveryError(code, true);
        throw error;
      }
      await withTimeout(this.connection.flush(), this.config.timeoutMs);
    } catch (error) {
      if (error instanceof DeliveryError) throw error;
      const connection = this.connection;
      this.connection = undefined;
      await connection?.close().catch(() => undefined);
      throw new DeliveryError((error as { code?: string }).code ?? (error as Error).message, false);
    }
  }

  /**
   * A new connection; ends at close() if it comes first. nats.js cannot cancel a connect, so the
   * connection it yields after the close is closed then (else it would stay open).
   */
  private async connect(): Promise<NatsConnection> {
    const connecting = connect(this.options());
    void connecting.then(
      (connection) => (this.closed ? connection.close().catch(() => undefined) : undefined),
      () => undefined,
    );
    // One way out per connect, dropped when it settles (a long outage of many connects keeps none).
    let cut!: (error: Error) => void;
    const closing = new Promise<never>((_resolve, reject) => (cut = reject));
    this.connecting.add(cut);
    try {
      return await Promise.race([connecting, closing]);
    } finally {
      this.connecting.delete(cut);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const cut of this.connecting) cut(new Error('the sink was closed'));
    const connection = this.connection;
    this.connection = undefined;
    await connection?.close().catch(() => undefined);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<T>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}
