/**
 * What a person wants to see of a stored manifest and its image config: kind, platforms, layers
 * with sizes, history, labels, annotations. Pure parsing of bytes already stored; every field comes
 * from whoever pushed the image, so only values of the expected JSON type are kept (a label that is
 * a number is dropped, not stringified) and nothing here is trusted as markup.
 * Spec: image-spec v1.1 manifest.md, image-index.md, config.md; Docker image manifest v2.2.
 */
import { IMAGE_CONFIG_TYPES, isIndexMediaType } from '../oci/media-types.js';

export type ManifestKind = 'image' | 'index' | 'artifact';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface BlobInsight {
  digest: string;
  mediaType: string;
  size: number;
  annotations?: Record<string, string>;
}

/** A manifest listed by an index. */
export interface ChildInsight extends BlobInsight {
  platform?: Platform;
  artifactType?: string;
}

export interface ManifestInsight {
  mediaType: string;
  kind: ManifestKind;
  /** Bytes of the manifest itself. */
  size: number;
  artifactType?: string;
  /** The digest of the manifest this one refers to (signatures, SBOMs, attestations). */
  subject?: string;
  annotations: Record<string, string>;
  config?: BlobInsight;
  layers: BlobInsight[];
  children: ChildInsight[];
}

export interface HistoryInsight {
  created?: string;
  createdBy?: string;
  comment?: string;
  emptyLayer: boolean;
}

export interface ConfigInsight {
  os?: string;
  architecture?: string;
  variant?: string;
  created?: string;
  author?: string;
  entrypoint?: string[];
  cmd?: string[];
  workingDir?: string;
  user?: string;
  env: string[];
  labels: Record<string, string>;
  exposedPorts: string[];
  history: HistoryInsight[];
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const texts = (value: unknown): string[] | undefined => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : undefined);

function stringMap(value: unknown): Record<string, string> {
  if (!isObject(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

function parseJson(bytes: Buffer): Json | undefined {
  try {
    const document: unknown = JSON.parse(bytes.toString('utf8'));
    return isObject(document) ? document : undefined;
  } catch {
    return undefined;
  }
}

function blob(value: unknown): BlobInsight | undefined {
  if (!isObject(value)) return undefined;
  const digest = text(value.digest);
  const mediaType = text(value.mediaType) ?? '';
  const size = typeof value.size === 'number' && Number.isSafeInteger(value.size) && value.size >= 0 ? value.size : 0;
  if (digest === undefined) return undefined;
  const annotations = stringMap(value.annotations);
  return { digest, mediaType, size, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) };
}

export function platformOf(value: unknown): Platform | undefined {
  if (!isObject(value)) return undefined;
  const os = text(value.os);
  const architecture = text(value.architecture);
  if (os === undefined || architecture === undefined) return undefined;
  const variant = text(value.variant);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/**
 * Reads a manifest or index. `mediaType` is the one validated when it was pushed (its index.json
 * entry), and it alone decides what the document may refer to: an index's `manifests`, an image's
 * `config` and `layers`. A field of the other kind is ignored, never a reference (an image manifest
 * carrying a `manifests` array names nothing). Undefined when the bytes are not a JSON object.
 */
export function inspectManifest(bytes: Buffer, mediaType: string): ManifestInsight | undefined {
  const document = parseJson(bytes);
  if (!document) return undefined;
  const annotations = stringMap(document.annotations);
  const subject = isObject(document.subject) ? text(document.subject.digest) : undefined;
  const base = { mediaType, size: bytes.length, annotations, ...(subject ? { subject } : {}) };
  if (isIndexMediaType(mediaType)) {
    const children = (Array.isArray(document.manifests) ? document.manifests : []).flatMap((entry): ChildInsight[] => {
      const child = blob(entry);
      if (!child || !isObject(entry)) return [];
      const platform = platformOf(entry.platform);
      const artifactType = text(entry.artifactType);
      return [{ ...child, ...(platform ? { platform } : {}), ...(artifactType ? { artifactType } : {}) }];
    });
    const artifactType = text(document.artifactType);
    return { ...base, kind: 'index', ...(artifactType ? { artifactType } : {}), layers: [], children };
  }
  const config = blob(document.config);
  const layers = (Array.isArray(document.layers) ? document.layers : []).map(blob).filter((layer): layer is BlobInsight => layer !== undefined);
  const artifactType = text(document.artifactType) ?? (config && !IMAGE_CONFIG_TYPES.has(config.mediaType) ? config.mediaType : undefined);
  const kind: ManifestKind = artifactType === undefined ? 'image' : 'artifact';
  return { ...base, kind, ...(artifactType ? { artifactType } : {}), ...(config ? { config } : {}), layers, children: [] };
}

/** Reads an image config (OCI or Docker); undefined when the bytes are not a JSON object. */
export function inspectConfig(bytes: Buffer): ConfigInsight | undefined {
  const document = parseJson(bytes);
  if (!document) return undefined;
  const runtime = isObject(document.config) ? document.config : {};
  const history = (Array.isArray(document.history) ? document.history : []).filter(isObject).map((entry): HistoryInsight => {
    const created = text(entry.created);
    const createdBy = text(entry.created_by);
    const comment = text(entry.comment);
    return { ...(created ? { created } : {}), ...(createdBy ? { createdBy } : {}), ...(comment ? { comment } : {}), emptyLayer: entry.empty_layer === true };
  });
  const optional = (key: keyof ConfigInsight, value: unknown) => (value === undefined || value === '' ? {} : { [key]: value });
  return {
    ...optional('os', text(document.os)),
    ...optional('architecture', text(document.architecture)),
    ...optional('variant', text(document.variant)),
    ...optional('created', text(document.created)),
    ...optional('author', text(document.author)),
    ...optional('entrypoint', texts(runtime.Entrypoint)),
    ...optional('cmd', texts(runtime.Cmd)),
    ...optional('workingDir', text(runtime.WorkingDir)),
    ...optional('user', text(runtime.User)),
    env: texts(runtime.Env) ?? [],
    labels: stringMap(runtime.Labels),
    exposedPorts: isObject(runtime.ExposedPorts) ? Object.keys(runtime.ExposedPorts) : [],
    history,
  };
}

/** The layers' history entries: the entries not marked empty_layer, in order (config.md "history"). */
export function layerHistory(layers: readonly BlobInsight[], history: readonly HistoryInsight[]): Array<HistoryInsight | undefined> {
  const filled = history.filter((entry) => !entry.emptyLayer);
  // A config whose history does not line up with its layers is shown without per-layer history.
  return filled.length === layers.length ? filled : layers.map(() => undefined);
}
