/** What a sink is to the dispatcher: something that accepts one event or throws a DeliveryError. */
import { createHash } from 'node:crypto';
import type { EventSinkConfig } from '../config/config.js';
import type { StoredEvent } from './cloud-event.js';

export interface Sink {
  /** Resolves once the sink has accepted the event (as the outbox keeps it). */
  send(event: StoredEvent): Promise<void>;
  close(): Promise<void>;
}

/** A failed delivery; `permanent` when trying again cannot help (the sink refused this event: 4xx). */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}

/**
 * A sink's stable key (its cursor file, its metrics label): type, address and channel, so a
 * reordered list keeps each sink's place. The address's query (which may hold a secret) stays out of labels.
 */
export function sinkKey(config: EventSinkConfig): string {
  return createHash('sha256')
    .update(`${config.type}\n${config.address}\n${config.channel ?? ''}`)
    .digest('hex')
    .slice(0, 16);
}

/** The metrics label of a sink: type, host and path (never credentials nor query). */
export function sinkLabel(config: EventSinkConfig): string {
  const url = new URL(config.address);
  return `${config.type}:${url.host}${config.type === 'http' ? url.pathname : `/${config.channel ?? ''}`}`;
}
