/**
 * Manifest writes as CloudEvents 1.0, with zot's types and data fields
 * (zot `pkg/extensions/events/common.go`, `events.go`): `<prefix>.repository.created` {name},
 * `<prefix>.image.updated` {name, reference, digest, mediaType, manifest},
 * `<prefix>.image.deleted` {name, reference, digest, mediaType}. Berth adds `actor` to the data: who
 * did it (username, how they proved it, who vouches), absent for anonymous writes.
 * The `id` is fixed when the event enters the outbox, so every redelivery carries the same one.
 */
import { randomUUID } from 'node:crypto';
import { CloudEvent } from 'cloudevents';
import type { EventsConfig } from '../config/config.js';
import type { ManifestWrite } from '../registry/manifest-writes.js';

const TYPES: Record<ManifestWrite['kind'], string> = {
  'repository-created': 'repository.created',
  'image-updated': 'image.updated',
  'image-deleted': 'image.deleted',
};

/** The event's JSON form (CloudEvents JSON format), as kept in the outbox. */
export function toCloudEvent(write: ManifestWrite, config: Pick<EventsConfig, 'source' | 'typePrefix'>): Record<string, unknown> {
  const data: Record<string, unknown> = { name: write.name };
  if (write.kind !== 'repository-created') Object.assign(data, { reference: write.reference, digest: write.digest, mediaType: write.mediaType });
  if (write.kind === 'image-updated') data.manifest = write.manifest.toString('utf8');
  const actor = write.actor;
  if (actor?.username !== undefined) data.actor = { name: actor.username, ...(actor.method ? { method: actor.method } : {}), ...(actor.provider ? { provider: actor.provider } : {}) };
  return {
    specversion: '1.0',
    id: randomUUID(),
    type: `${config.typePrefix}.${TYPES[write.kind]}`,
    source: config.source,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data,
  };
}

/** An event as the outbox keeps it: CloudEvents JSON attributes and `data`. */
export type StoredEvent = Record<string, unknown>;

/**
 * A stored event in CloudEvents HTTP binary mode: a `ce-<attribute>` header per attribute, the
 * data's content type, the data as the body; the same headers and body as the SDK's `HTTP.binary`
 * (a test holds them equal), without an SDK event, its copy for the channel and its conversion per
 * delivery. `extensions` are added as attributes (the sink's `channel`).
 */
export function binaryMessage(event: StoredEvent, extensions: Record<string, string> = {}): { headers: Record<string, string>; body: Buffer } {
  const headers: Record<string, string> = { 'content-type': typeof event.datacontenttype === 'string' ? event.datacontenttype : 'application/json; charset=utf-8' };
  for (const [name, value] of Object.entries({ ...event, ...extensions })) {
    if (name === 'data' || name === 'data_base64' || name === 'datacontenttype' || value === undefined) continue;
    headers[`ce-${name}`] = name === 'time' ? new Date(value as string).toISOString() : String(value);
  }
  const data = event.data;
  const body = data === undefined ? Buffer.alloc(0) : typeof data === 'string' ? Buffer.from(data) : Buffer.from(JSON.stringify(data));
  return { headers, body };
}

/**
 * The stored JSON back as an SDK event. Not validated again: `toCloudEvent` made it, and the SDK's
 * schema check per delivery was a measurable part of what events cost a busy registry.
 */
export function fromStored(event: StoredEvent): CloudEvent<unknown> {
  return new CloudEvent(event as ConstructorParameters<typeof CloudEvent>[0], false);
}
