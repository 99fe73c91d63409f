/**
 * The HTTP sink's own binary-mode encoding of a stored event (issue 18): the same headers and body
 * as the CloudEvents SDK's `HTTP.binary`, and the SDK's receiver reads back the event that was stored.
 */
import { CloudEvent, HTTP } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import { binaryMessage, fromStored, toCloudEvent, type StoredEvent } from '../../../src/events/cloud-event.js';
import type { ManifestWrite } from '../../../src/registry/manifest-writes.js';

const config = { source: 'https://oci.example.org', typePrefix: 'zotregistry' };
const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }));
const digest = 'sha256:' + 'ab'.repeat(32);
const writes: ManifestWrite[] = [
  { kind: 'repository-created', name: 'team/app' },
  { kind: 'image-updated', name: 'team/app', reference: 'v1', digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', manifest, actor: { username: 'buildbot', method: 'htpasswd' } },
  {
    kind: 'image-updated',
    name: 'team/app',
    reference: 'v2',
    digest,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    manifest,
    actor: { username: 'ci', method: 'oidc-workload', provider: 'forgejo' },
  },
  { kind: 'image-deleted', name: 'team/app', reference: digest, digest, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
];
/** As the outbox hands it back: through JSON. */
const stored = (write: ManifestWrite): StoredEvent => JSON.parse(JSON.stringify(toCloudEvent(write, config))) as StoredEvent;

describe('binary-mode encoding of a stored event', () => {
  it.each(writes.map((write) => [write.kind, write] as const))('%s: the SDK’s headers and body, without and with a channel', (_kind, write) => {
    const event = stored(write);
    for (const extensions of [{}, { channel: 'registry-events' }] as Array<Record<string, string>>) {
      const sdk = HTTP.binary(new CloudEvent({ ...(fromStored(event) as unknown as Record<string, unknown>), ...extensions } as ConstructorParameters<typeof CloudEvent>[0], false));
      const ours = binaryMessage(event, extensions);
      expect(ours.headers).toEqual(sdk.headers);
      expect(ours.body.toString('utf8')).toBe(sdk.body);
      // A receiver that reads with the SDK gets the stored event back, the channel beside it.
      const received = HTTP.toEvent({ headers: ours.headers, body: ours.body.toString('utf8') }) as CloudEvent<Record<string, unknown>>;
      expect(received.id).toBe(event.id);
      expect(received.type).toBe(event.type);
      expect(received.data).toEqual(event.data);
      expect((received as unknown as Record<string, unknown>).channel).toBe(extensions.channel);
    }
  });

  it('sends the actor and the manifest as zot’s data fields', () => {
    const body = JSON.parse(binaryMessage(stored(writes[1]!)).body.toString('utf8')) as Record<string, unknown>;
    expect(body).toEqual({
      name: 'team/app',
      reference: 'v1',
      digest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      manifest: manifest.toString('utf8'),
      actor: { name: 'buildbot', method: 'htpasswd' },
    });
  });
});
