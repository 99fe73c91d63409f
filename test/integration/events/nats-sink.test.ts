/**
 * The NATS sink on its own, against Debian's nats-server: an event the client refuses to publish (over the server's max_payload) is a permanent
 * failure and the connection stays.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import type { StoredEvent } from '../../../src/events/cloud-event.js';
import { NatsSink } from '../../../src/events/nats-sink.js';
import { DeliveryError } from '../../../src/events/sink.js';
import { eventually } from '../../helpers/eventually.js';
import { startNats, type NatsServer } from '../../helpers/nats-server.js';

let nats: NatsServer;
let subscriber: NatsConnection;
const received: string[] = [];

beforeAll(async () => {
  nats = await startNats();
  subscriber = await connect({ servers: nats.url.replace('nats://', '') });
  const subscription = subscriber.subscribe('registry.events');
  void (async () => {
    for await (const message of subscription) received.push((JSON.parse(message.string()) as { id: string }).id);
  })();
  await subscriber.flush();
});

afterAll(async () => {
  await subscriber?.close();
  await nats?.stop();
});

const event = (id: string, data: unknown = {}): StoredEvent => ({ specversion: '1.0', id, type: 'zotregistry.image.updated', source: 'zotregistry.dev', datacontenttype: 'application/json', data });

describe('the NATS sink', () => {
  it('refuses for good an event larger than the server takes, and sends the next on the same connection', async () => {
    const sink = new NatsSink({ type: 'nats', address: nats.url, channel: 'registry.events', timeoutMs: 5_000, headers: {} });
    try {
      await sink.send(event('small-1'));
      // A manifest event over NATS's 1 MiB default max_payload.
      const error = await sink.send(event('big', { manifest: 'm'.repeat(1_200_000) })).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(DeliveryError);
      expect(error).toMatchObject({ permanent: true, message: 'MAX_PAYLOAD_EXCEEDED' });
      await sink.send(event('small-2'));
      await eventually(async () => expect(received).toEqual(['small-1', 'small-2']));
    } finally {
      await sink.close();
    }
  });
});
