/** Media types of the manifests the registry stores. Spec: image-spec v1.1 media-types.md. */
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';

/** Config media types of runnable images; any other config makes the manifest an artifact. */
export const IMAGE_CONFIG_TYPES: ReadonlySet<string> = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);

export const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST]);

export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST;
}

/**
 * Layers that are not distributed by registries (Windows foreign layers, OCI non-distributable):
 * a manifest may reference them without the registry holding the blob.
 */
export function isNonDistributable(mediaType: string): boolean {
  return mediaType === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip' || mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.');
}

/** The media type without parameters, lower-cased: `Application/JSON; charset=x` → `application/json`. */
export function essence(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}
