/**
 * Small images written straight through a Store and the registry's manifest service, for the unit
 * tests of what is read back (the UI's read models): a config naming the platform and the tag (so
 * each tag's image differs), one layer, the manifest pushed under `tag`.
 */
import { Readable } from 'node:stream';
import { digestOf, type Digest } from '../../src/oci/digest.js';
import type { Registry } from '../../src/registry/registry.js';
import type { Store } from '../../src/storage/store.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST } from './oci.js';

/** Stores `bytes` as a blob of `name` through an upload session. */
export async function putStoreBlob(store: Store, name: string, bytes: Buffer): Promise<Digest> {
  const digest = digestOf(bytes);
  const session = await store.uploads.create(name);
  await store.uploads.commit(name, session.id, digest, Readable.from([bytes]));
  return digest;
}

/** Pushes a one-layer image as `name:tag`; returns its digest, its size (manifest, config, layer) and the layer's size. */
export async function pushStoreImage(store: Store, registry: Registry, name: string, tag: string, architecture = 'arm64'): Promise<{ digest: string; size: number; layer: number }> {
  const config = Buffer.from(JSON.stringify({ os: 'linux', architecture, rootfs: { type: 'layers', diff_ids: [] }, tag }));
  const layer = Buffer.from(`layer of ${name}`);
  await store.ensureRepository(name);
  const [configDigest, layerDigest] = [await putStoreBlob(store, name, config), await putStoreBlob(store, name, layer)];
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest.value, size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: layerDigest.value, size: layer.length }],
    }),
  );
  await registry.manifests.put(name, { tag }, manifest, OCI_MANIFEST, { mayMoveTag: true });
  return { digest: digestOf(manifest).value, size: manifest.length + config.length + layer.length, layer: layer.length };
}
