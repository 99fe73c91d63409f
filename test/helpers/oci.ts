/**
 * The spec tokens tests spell OCI content with: media types and the sha256 digest string. They
 * are written out here from the specs rather than imported from src/oci, so a typo in Berth's own
 * constants fails the tests instead of agreeing with them.
 * Spec: image-spec v1.1 media-types.md and descriptor.md ("Digests"); Docker's Image Manifest V2, Schema 2.
 */
import { createHash } from 'node:crypto';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
/** An uncompressed tar layer. */
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
/** The `{}` blob an artifact with no config or layers points to. */
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';

export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
/** Docker's schema 1 signed manifest, which registries no longer take. */
export const DOCKER_MANIFEST_V1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

/** `sha256:<hex>` of `bytes` (a string as UTF-8). */
export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
