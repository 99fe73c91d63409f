/**
 * The NATS sink on its own, against Debian's nats-server and a bare TCP server that speaks just
 * enough NATS: an event the client refuses to publish (over the server's max_payload) is a permanent
 * failure and the connection stays; close() cuts a connect in progress and closes what it yields.
 */
import net from 'node:net';
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

/** Settles `promise`, or says it did not within a time far longer than it needs. */
function within<T>(promise: Promise<T>, ms = 15_000): Promise<T | 'still pending'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<'still pending'>((resolve) => (timer = setTimeout(() => resolve('still pending'), ms)))]).finally(() => clearTimeout(timer));
}

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
  it('cuts a connect in progress at close(), and closes the connection that comes of it after', async () => {
    // Accepts and stays silent until told to answer, then speaks just enough NATS for a connect.
    const sockets: net.Socket[] = [];
    const closed: net.Socket[] = [];
    const server = net.createServer((socket) => {
      sockets.push(socket);
      socket.on('close', () => closed.push(socket));
      socket.on('data', (data) => {
        if (data.toString().includes('PING')) socket.write('PONG\r\n');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    // A connect that would wait 10 minutes for the server's INFO.
    const sink = new NatsSink({ type: 'nats', address: `nats://127.0.0.1:${port}`, channel: 'registry.events', timeoutMs: 600_000, headers: {} });
    try {
      const sending = sink.send(event('1')).then(
        () => 'sent',
        (error: unknown) => error,
      );
      await eventually(async () => expect(sockets).toHaveLength(1));
      expect(await within(sink.close())).toBeUndefined();
      // The send ends with the close, not after the connect timeout.
      expect(await within(sending)).toBeInstanceOf(DeliveryError);
      // The server answers now: the connection the pending connect yields is closed, not kept.
      sockets[0]!.write('INFO {"server_id":"fake","version":"2.10.0","proto":1,"max_payload":1048576,"headers":true}\r\n');
      await eventually(async () => expect(closed).toHaveLength(1), 15_000);
      // And a closed sink sends nothing more.
      await expect(sink.send(event('2'))).rejects.toBeInstanceOf(DeliveryError);
      expect(sockets).toHaveLength(1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
