/**
 * # OCI distribution-spec conformance suite, ported to vitest
 *
 * ## What was ported
 *
 * The Go suite at github.com/opencontainers/distribution-spec/conformance, in its v1.1.x layout
 * (00_conformance_suite_test.go runs test01Pull, test02Push, test03ContentDiscovery and
 * test04ContentManagement in that order, on one reggie client). Upstream could not be fetched from
 * here, so this port was made from the stored copies of these upstream revisions (each file at
 * the last commit that changed it in that layout; upstream's main branch has since replaced it
 * with a different layout):
 *
 *   conformance/00_conformance_suite_test.go  81bb239e0c8eebab51ad43171bf99fc1a39fea6e
 *   conformance/01_pull_test.go               47008ca930b575b3f1cd422414c00d3b0752a7cb
 *   conformance/02_push_test.go               11b8e3fba7d2d7329513d0cff53058243c334858
 *   conformance/03_discovery_test.go          b5f09ebe541c65857e8721d51a7a3d0e2f1d8749
 *   conformance/04_management_test.go         3c7a4ac8186fe1307bac6857bfdb48fc190ed57f
 *   conformance/setup.go                      b5f09ebe541c65857e8721d51a7a3d0e2f1d8749
 *   conformance/image.go                      3ec8a56d897bb89d482b41d4aac6ba01519f55f2
 *   reggie (the suite's HTTP client): response.go GetRelativeLocation / GetAbsoluteLocation / Errors
 *
 * The suite targets distribution-spec v1.1 (Berth serves 1.1.1). reporter.go only writes the
 * HTML/JUnit reports and has nothing to port.
 *
 * ## How it maps
 *
 * - One vitest file per workflow (pull, push, discovery, management), each with its own Berth
 *   (`startBerth()`), so each workflow starts from an empty registry, as upstream's workflows do
 *   when only one is enabled. Every `g.Specify` is one `it` with the same title, in the same order,
 *   in the same `g.Context` (a `describe`); state passes between cases through `let`s exactly as
 *   the Go closures do (`lastResponse`, `prevResponse`, `tag`, `numTags`, ...).
 * - The suite's environment, as a registry that supports everything runs it (see FLAGS below).
 *   Upstream decides some cases when the specs are built (`if deleteManifestBeforeBlobs { g.Specify
 *   ... }`) and others by `RunOnlyIf(<env flag>)`; both are decided here when the file is loaded,
 *   from FLAGS, so a case that this configuration does not run is not registered (never skipped).
 *   A `RunOnlyIf` on an earlier *response* cannot be known in advance: those cases run, take the
 *   branch upstream takes, and say so in a comment.
 * - Test data is built as setup.go builds it, byte for byte in form: Go's `json.MarshalIndent(v,
 *   "", "\t")`, the struct field order and `omitempty` rules of image.go (so every descriptor carries
 *   `"newUnspecifiedField": null` or the base64 of "hello world", and manifests' config descriptors
 *   carry the config as base64 `data`), one random config author per workflow slot, the same
 *   gzipped layer, the same referrers artifacts. The random 42-byte blobs come from a seeded
 *   generator as upstream's do (the values differ: upstream uses Go's math/rand).
 * - Requests are reggie's: `<name>` / `<reference>` / `<digest>` substituted into the path,
 *   `SetQueryParam` appended as Go's `url.Values.Encode()` (sorted), the headers the suite sets,
 *   and the body. Two things follow Go's net/http rather than the literal header map, because that
 *   is what reaches the registry: a `Content-Length` header set by the suite is never sent as such,
 *   the length comes from the body (this matters once: "PUT request to session URL with digest"
 *   sets `Content-Length: 42` with no body, so 0 goes on the wire); and resty drops a body on GET
 *   and HEAD ("400 response body should contain OCI-conforming JSON message" sets one on a GET).
 *   Redirects are never followed, so `Location` is always the registry's own.
 */
import { createHash, randomInt, randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';
import { afterAll, beforeAll, expect } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, sha256 } from '../helpers/oci.js';

type IncomingHttpHeaders = Dispatcher.ResponseData['headers'];

// ---------------------------------------------------------------------------------------------
// FLAGS: the suite's environment, as a registry that supports everything would set it.
// ---------------------------------------------------------------------------------------------

/**
 * OCI_DELETE_MANIFEST_BEFORE_BLOBS. setup.go defaults it to true when unset; a registry that
 * supports deletion and, like zot and Berth, refuses to delete blobs a manifest still uses, runs
 * with the manifests deleted first.
 */
export const DELETE_MANIFEST_BEFORE_BLOBS = true;

/**
 * OCI_AUTOMATIC_CROSSMOUNT. Unset upstream skips both automatic cross-mount cases; "1" runs
 * "Cross-mounting without from, and automatic content discovery enabled should return a 201",
 * "0" runs the "disabled should return a 202" one. A registry that supports everything supports
 * mounting without `from` (spec "Mounting a blob from another repository": the registry MAY look
 * the blob up by itself). Berth deliberately does not: looking a digest up in every repository
 * would tell a caller about blobs in repositories it may not read, so a mount without `from` opens
 * an upload session, and the suite's "disabled should return a 202" case is the one that applies.
 */
export const AUTOMATIC_CROSSMOUNT: boolean | undefined = false;

/**
 * OCI_TAG_NAME + OCI_MANIFEST_DIGEST + OCI_BLOB_DIGEST (pull) and OCI_TAG_LIST (discovery) point
 * the suite at content already in the registry instead of pushing its own. Berth starts empty, so
 * they are unset and every setup runs (setup.go: runPullSetup, runPushSetup,
 * runContentDiscoverySetup, runContentManagementSetup all true).
 */
export const ENV_TAG_NAME: string | undefined = undefined;
export const ENV_TAG_LIST: string | undefined = undefined;
export const RUN_PULL_SETUP = true;
export const RUN_PUSH_SETUP = true;
export const RUN_CONTENT_DISCOVERY_SETUP = ENV_TAG_LIST === undefined;
export const RUN_CONTENT_MANAGEMENT_SETUP = true;

/** OCI_NAMESPACE: the repository every workflow works in (two components, as real ones often are). */
export const NAMESPACE = 'conformance/berth';
/** OCI_CROSSMOUNT_NAMESPACE unset: setup.go uses `conformance-<uuid>`. */
export const CROSSMOUNT_NAMESPACE = `conformance-${randomUUID()}`;

// ---------------------------------------------------------------------------------------------
// Go's JSON encoding, image.go's types
// ---------------------------------------------------------------------------------------------

/** `json.MarshalIndent(v, "", "\t")`: Go's layout is JSON.stringify's with a tab, plus its HTML escaping. */
export function goMarshalIndent(value: unknown): Buffer {
  const text = JSON.stringify(value, null, '\t').replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return Buffer.from(text, 'utf8');
}

/** image.go `descriptor`, with its field order and omitempty rules; undefined fields are omitted. */
export interface DescriptorFields {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  data?: Uint8Array;
  artifactType?: string;
  newUnspecifiedField?: Uint8Array;
}

export function descriptor(d: DescriptorFields): Record<string, unknown> {
  const out: Record<string, unknown> = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  // urls: omitempty, never set by the suite
  if (d.annotations && Object.keys(d.annotations).length > 0) out.annotations = sortedKeys(d.annotations);
  if (d.data && d.data.length > 0) out.data = Buffer.from(d.data).toString('base64');
  // platform: omitempty, never set by the suite
  if (d.artifactType) out.artifactType = d.artifactType;
  // `json:"newUnspecifiedField"` has no omitempty: a nil []byte is encoded as null.
  out.newUnspecifiedField = d.newUnspecifiedField ? Buffer.from(d.newUnspecifiedField).toString('base64') : null;
  return out;
}

/** image.go `manifest`. */
export function manifestDocument(m: {
  mediaType?: string;
  artifactType?: string;
  config: DescriptorFields;
  layers: DescriptorFields[];
  subject?: DescriptorFields;
  annotations?: Record<string, string>;
}): Record<string, unknown> {
  const out: Record<string, unknown> = { schemaVersion: 2 };
  if (m.mediaType) out.mediaType = m.mediaType;
  if (m.artifactType) out.artifactType = m.artifactType;
  out.config = descriptor(m.config);
  out.layers = m.layers.map(descriptor);
  if (m.subject) out.subject = descriptor(m.subject);
  if (m.annotations && Object.keys(m.annotations).length > 0) out.annotations = sortedKeys(m.annotations);
  return out;
}

/** image.go `index`. */
export function indexDocument(i: {
  mediaType?: string;
  artifactType?: string;
  manifests: DescriptorFields[];
  subject?: DescriptorFields;
  annotations?: Record<string, string>;
}): Record<string, unknown> {
  const out: Record<string, unknown> = { schemaVersion: 2 };
  if (i.mediaType) out.mediaType = i.mediaType;
  if (i.artifactType) out.artifactType = i.artifactType;
  out.manifests = i.manifests.map(descriptor);
  if (i.subject) out.subject = descriptor(i.subject);
  if (i.annotations && Object.keys(i.annotations).length > 0) out.annotations = sortedKeys(i.annotations);
  return out;
}

/** Go encodes map keys sorted. */
function sortedKeys(map: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// ---------------------------------------------------------------------------------------------
// setup.go's test data
// ---------------------------------------------------------------------------------------------

export interface TestBlob {
  content: Buffer;
  contentLength: string;
  digest: string;
}

function testBlob(content: Buffer): TestBlob {
  return { content, contentLength: String(content.length), digest: sha256(content) };
}

export const emptyLayerTestTag = 'emptylayer';
export const testTagName = 'tagtest0';
export const artifactTypeFilter = 'artifactType';

/**
 * `pull = 1 << iota; push; contentDiscovery; contentManagement; numWorkflows` makes numWorkflows
 * 1 << 4 = 16, so setup.go builds 16 configs and 16 manifests (the workflows use indexes 0-4).
 */
export const numWorkflows = 16;

/**
 * The error codes slice. The same const block continues iota, so BLOB_UNKNOWN is 5 and indexes
 * 0-4 of `errorCodes` are empty strings; "ContainElement(code)" therefore also accepts "".
 */
export const BLOB_UNKNOWN = 5;
export const UNSUPPORTED = 19;
export const errorCodes: string[] = [
  '',
  '',
  '',
  '',
  '',
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'MANIFEST_UNVERIFIED',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'TAG_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
];

/** setup.go randomString: crypto-random letters. */
function randomString(n: number): string {
  const letters = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-';
  let out = '';
  for (let i = 0; i < n; i++) out += letters[randomInt(letters.length)];
  return out;
}

/** GinkgoRandomSeed(): the run's seed (Ginkgo defaults to the current Unix time). */
export const seed = Math.floor(Date.now() / 1000);

/** setup.go randomBlob: `size` reproducible pseudo-random bytes for a seed (sha256 in counter mode here). */
export function randomBlob(size: number, blobSeed: number): { digest: string; blob: Buffer } {
  const parts: Buffer[] = [];
  for (let counter = 0; parts.length * 32 < size; counter++) {
    parts.push(createHash('sha256').update(`${blobSeed}:${counter}`).digest());
  }
  const blob = Buffer.concat(parts).subarray(0, size);
  return { digest: sha256(blob), blob: Buffer.from(blob) };
}

/** A config blob per workflow slot, unique through a random author (setup.go). */
export const configs: TestBlob[] = Array.from({ length: numWorkflows }, () =>
  testBlob(
    goMarshalIndent({
      author: randomString(16),
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
    }),
  ),
);

/**
 * layerBase64String: a gzipped tarball of test.txt ("you bothered to find out what was in here.
 * Congratulations!").
 */
const layerBase64String =
  'H4sIAAAAAAAAA+3OQQrCMBCF4a49xXgBSUnaHMCTRBptQRNpp6i3t0UEV7oqIv7fYgbmzeJpHHSjVy0' +
  'WZCa1c/MufWVe94N3RWlrZ72x3k/30nhbFWKWLPU0Dhp6keJ8im//PuU/6pZH2WVtYx8b0Sz7LjWSR5VLG6YRBumSzOlGtjkd+qD' +
  'jMWiX07Befbs7AAAAAAAAAAAAAAAAAPyzO34MnqoAKAAA';

export const layerBlobData = Buffer.from(layerBase64String, 'base64');
export const layerBlobDigest = sha256(layerBlobData);
export const layerBlobContentLength = String(layerBlobData.length);

const layers: DescriptorFields[] = [{ mediaType: OCI_LAYER_GZIP, size: layerBlobData.length, digest: layerBlobDigest }];

/** The config descriptor of setup.go's manifests: the config inlined as `data`, plus an unknown field. */
function configDescriptor(config: TestBlob): DescriptorFields {
  return {
    mediaType: OCI_CONFIG,
    digest: config.digest,
    size: config.content.length,
    data: config.content, // must be the config content.
    newUnspecifiedField: Buffer.from('hello world'), // content doesn't matter.
  };
}

/** A manifest per workflow slot: configs[i] plus the one layer. */
export const manifests: TestBlob[] = configs.map((config) => testBlob(goMarshalIndent(manifestDocument({ mediaType: OCI_MANIFEST, config: configDescriptor(config), layers }))));

/** Used in the push test: configs[1] and no layers, and no mediaType field. */
export const emptyLayerManifestContent = goMarshalIndent(manifestDocument({ config: configDescriptor(configs[1]!), layers: [] }));
export const emptyLayerManifestDigest = sha256(emptyLayerManifestContent);

export const nonexistentManifest = '.INVALID_MANIFEST_NAME';
export const invalidManifestContent = Buffer.from('blablabla');

const blobA = randomBlob(42, seed + 1);
export const testBlobA = blobA.blob;
export const testBlobALength = String(testBlobA.length);
export const testBlobADigest = blobA.digest;

/** setup.go setupChunkedBlob: blob B split after size/2+1 bytes, with each chunk's Content-Range. */
export interface ChunkedBlob {
  testBlobB: Buffer;
  testBlobBDigest: string;
  testBlobBChunk1: Buffer;
  testBlobBChunk1Length: string;
  testBlobBChunk1Range: string;
  testBlobBChunk2: Buffer;
  testBlobBChunk2Length: string;
  testBlobBChunk2Range: string;
}

export function setupChunkedBlob(size: number): ChunkedBlob {
  const { digest, blob } = randomBlob(size, seed + 2);
  const split = Math.floor(size / 2) + 1;
  const chunk1 = blob.subarray(0, split);
  const chunk2 = blob.subarray(split);
  return {
    testBlobB: blob,
    testBlobBDigest: digest,
    testBlobBChunk1: chunk1,
    testBlobBChunk1Length: String(chunk1.length),
    testBlobBChunk1Range: `0-${chunk1.length - 1}`,
    testBlobBChunk2: chunk2,
    testBlobBChunk2Length: String(chunk2.length),
    testBlobBChunk2Range: `${chunk1.length}-${blob.length - 1}`,
  };
}

// Referrers test data: artifacts with a subject.
export const emptyJSONBlob = Buffer.from('{}');
export const emptyJSONDescriptor: DescriptorFields = {
  mediaType: OCI_EMPTY,
  size: emptyJSONBlob.length,
  digest: sha256(emptyJSONBlob),
};

export const testRefBlobA = Buffer.from('NHL Peanut Butter on my NHL bagel');
export const testRefBlobALength = String(testRefBlobA.length);
export const testRefBlobADigest = sha256(testRefBlobA);
export const testRefArtifactTypeA = 'application/vnd.nhl.peanut.butter.bagel';

export const testRefBlobB = Buffer.from('NBA Strawberry Jam on my NBA croissant');
export const testRefBlobBLength = String(testRefBlobB.length);
export const testRefBlobBDigest = sha256(testRefBlobB);
export const testRefArtifactTypeB = 'application/vnd.nba.strawberry.jam.croissant';

export const testRefArtifactTypeIndex = 'application/vnd.food.stand';

export const testAnnotationKey = 'org.opencontainers.conformance.test';
/** Digest of each referrer → the value of its testAnnotationKey annotation. */
export const testAnnotationValues: Record<string, string> = {};

function subjectOf(manifest: TestBlob): DescriptorFields {
  return { mediaType: OCI_MANIFEST, size: manifest.content.length, digest: sha256(manifest.content) };
}

function referrer(document: Record<string, unknown>, annotation?: string): { content: Buffer; digest: string } {
  const content = goMarshalIndent(document);
  const digest = sha256(content);
  if (annotation !== undefined) testAnnotationValues[digest] = annotation;
  return { content, digest };
}

/** Artifact with a subject, artifact type from config.mediaType. */
const refsManifestAConfigArtifact = referrer(
  manifestDocument({
    mediaType: OCI_MANIFEST,
    config: { mediaType: testRefArtifactTypeA, size: testRefBlobA.length, digest: testRefBlobADigest },
    subject: subjectOf(manifests[4]!),
    layers: [emptyJSONDescriptor],
    annotations: { [testAnnotationKey]: 'test config a' },
  }),
  'test config a',
);
export const refsManifestAConfigArtifactContent = refsManifestAConfigArtifact.content;
export const refsManifestAConfigArtifactDigest = refsManifestAConfigArtifact.digest;

const refsManifestBConfigArtifact = referrer(
  manifestDocument({
    mediaType: OCI_MANIFEST,
    config: { mediaType: testRefArtifactTypeB, size: testRefBlobB.length, digest: testRefBlobBDigest },
    subject: subjectOf(manifests[4]!),
    layers: [emptyJSONDescriptor],
    annotations: { [testAnnotationKey]: 'test config b' },
  }),
  'test config b',
);
export const refsManifestBConfigArtifactContent = refsManifestBConfigArtifact.content;
export const refsManifestBConfigArtifactDigest = refsManifestBConfigArtifact.digest;

/** Artifact with a subject, artifactType set, config the empty JSON descriptor. */
const refsManifestALayerArtifact = referrer(
  manifestDocument({
    mediaType: OCI_MANIFEST,
    artifactType: testRefArtifactTypeA,
    config: emptyJSONDescriptor,
    subject: subjectOf(manifests[4]!),
    layers: [{ mediaType: testRefArtifactTypeA, size: testRefBlobA.length, digest: testRefBlobADigest }],
    annotations: { [testAnnotationKey]: 'test layer a' },
  }),
  'test layer a',
);
export const refsManifestALayerArtifactContent = refsManifestALayerArtifact.content;
export const refsManifestALayerArtifactDigest = refsManifestALayerArtifact.digest;

const refsManifestBLayerArtifact = referrer(
  manifestDocument({
    mediaType: OCI_MANIFEST,
    artifactType: testRefArtifactTypeB,
    config: emptyJSONDescriptor,
    subject: subjectOf(manifests[4]!),
    layers: [{ mediaType: testRefArtifactTypeB, size: testRefBlobB.length, digest: testRefBlobBDigest }],
    annotations: { [testAnnotationKey]: 'test layer b' },
  }),
  'test layer b',
);
export const refsManifestBLayerArtifactContent = refsManifestBLayerArtifact.content;
export const refsManifestBLayerArtifactDigest = refsManifestBLayerArtifact.digest;

/** The same as B (layer) but about a subject that is never pushed (manifests[3]); no annotations. */
const refsManifestCLayerArtifact = referrer(
  manifestDocument({
    mediaType: OCI_MANIFEST,
    artifactType: testRefArtifactTypeB,
    config: emptyJSONDescriptor,
    subject: subjectOf(manifests[3]!),
    layers: [{ mediaType: testRefArtifactTypeB, size: testRefBlobB.length, digest: testRefBlobBDigest }],
  }),
);
export const refsManifestCLayerArtifactContent = refsManifestCLayerArtifact.content;
export const refsManifestCLayerArtifactDigest = refsManifestCLayerArtifact.digest;

/** An index as an artifact with a subject, listing the two "A" artifacts. */
const refsIndexArtifact = referrer(
  indexDocument({
    mediaType: OCI_INDEX,
    artifactType: testRefArtifactTypeIndex,
    manifests: [
      { mediaType: OCI_MANIFEST, size: refsManifestAConfigArtifactContent.length, digest: refsManifestAConfigArtifactDigest },
      { mediaType: OCI_MANIFEST, size: refsManifestALayerArtifactContent.length, digest: refsManifestALayerArtifactDigest },
    ],
    subject: subjectOf(manifests[4]!),
    annotations: { [testAnnotationKey]: 'test index' },
  }),
  'test index',
);
export const refsIndexArtifactContent = refsIndexArtifact.content;
export const refsIndexArtifactDigest = refsIndexArtifact.digest;

/** godigest.FromString("hello world"): a digest no test pushes. */
export const dummyDigest = sha256('hello world');

// ---------------------------------------------------------------------------------------------
// The reggie client
// ---------------------------------------------------------------------------------------------

export interface RequestOptions {
  /** reggie.WithName: replaces the default name (OCI_NAMESPACE) in `<name>`. */
  name?: string;
  /** reggie.WithReference: fills `<reference>`. */
  reference?: string;
  /** reggie.WithDigest: fills `<digest>`. */
  digest?: string;
}

export class ConformanceRequest {
  readonly headers = new Map<string, { name: string; value: string }>();
  readonly query = new Map<string, string>();
  body: Buffer | undefined;

  constructor(
    readonly method: string,
    /** Path (and query, for a Location reused as is), after substitution. */
    readonly path: string,
  ) {}

  setHeader(name: string, value: string): this {
    this.headers.set(name.toLowerCase(), { name, value });
    return this;
  }

  setQueryParam(name: string, value: string): this {
    this.query.set(name, value);
    return this;
  }

  setBody(body: Uint8Array): this {
    this.body = Buffer.from(body);
    return this;
  }
}

/** A registry error as reggie's ErrorInfo reads it. */
export interface ErrorInfo {
  code: string;
  message?: string;
  detail?: unknown;
}

export class ConformanceResponse {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    readonly body: Buffer,
  ) {}

  /** Go's `Header().Get(name)`: the first value, or "" when absent. */
  header(name: string): string {
    const value = this.headers[name.toLowerCase()];
    if (value === undefined) return '';
    return Array.isArray(value) ? (value[0] ?? '') : value;
  }

  /** reggie GetRelativeLocation: the Location's path, plus `?query` when it has one; "" when unparsable. */
  relativeLocation(): string {
    const location = this.header('Location');
    let parsed: URL;
    try {
      parsed = new URL(location, 'http://relative.invalid');
    } catch {
      return '';
    }
    return parsed.pathname + parsed.search;
  }

  /** reggie GetAbsoluteLocation: the Location header as sent, "" when unparsable. */
  absoluteLocation(): string {
    const location = this.header('Location');
    try {
      new URL(location, 'http://relative.invalid');
    } catch {
      return '';
    }
    return location;
  }

  text(): string {
    return this.body.toString('utf8');
  }

  /** reggie Errors(): the `errors` array of an OCI error body; throws where reggie returns an error. */
  errors(): ErrorInfo[] {
    const parsed = JSON.parse(this.text()) as { errors?: ErrorInfo[] };
    if (!parsed.errors || parsed.errors.length === 0) throw new Error('body was valid json but could not be parsed');
    return parsed.errors;
  }

  /** For assertion messages: what Berth answered. */
  describe(): string {
    const interesting = ['location', 'range', 'docker-content-digest', 'content-type', 'oci-subject', 'oci-filters-applied', 'link'];
    const shown = interesting.filter((h) => this.headers[h] !== undefined).map((h) => `${h}: ${this.header(h)}`);
    const body = this.body.length > 0 && this.body.length < 2000 ? ` body=${this.text()}` : this.body.length > 0 ? ` body=<${this.body.length} bytes>` : '';
    return `${this.method} ${this.url} -> ${this.status} [${shown.join('; ')}]${body}`;
  }
}

const PAYLOAD_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** Go's url.Values.Encode(): keys sorted, form-encoded. */
function encodeQuery(query: Map<string, string>): string {
  const params = new URLSearchParams([...query.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return params.toString();
}

export class ConformanceClient {
  private readonly agent = new Agent({ keepAliveTimeout: 1000 });

  constructor(
    /** OCI_ROOT_URL; set once the registry listens (see `useRegistry`). */
    public rootUrl = '',
    /** OCI_NAMESPACE: reggie's default name. */
    readonly defaultName: string = NAMESPACE,
  ) {}

  /** reggie NewRequest: substitutes `<name>`, `<reference>`, `<digest>`. */
  newRequest(method: string, path: string, options: RequestOptions = {}): ConformanceRequest {
    let filled = path.replaceAll('<name>', options.name ?? this.defaultName);
    if (options.reference !== undefined) filled = filled.replaceAll('<reference>', options.reference);
    if (options.digest !== undefined) filled = filled.replaceAll('<digest>', options.digest);
    return new ConformanceRequest(method, filled);
  }

  async do(req: ConformanceRequest): Promise<ConformanceResponse> {
    const query = encodeQuery(req.query);
    // resty appends its query params to a query already in the URL with "&".
    const url = `${this.rootUrl}${req.path.startsWith('/') ? '' : '/'}${req.path}${query === '' ? '' : `${req.path.includes('?') ? '&' : '?'}${query}`}`;
    const headers: Record<string, string> = { 'user-agent': 'distribution-spec-conformance-tests' };
    for (const { name, value } of req.headers.values()) {
      // Go's net/http never sends a Content-Length from the header map: it frames by the body.
      if (name.toLowerCase() === 'content-length') continue;
      headers[name] = value;
    }
    // resty sends no payload on GET or HEAD (AllowGetMethodPayload is off).
    const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : req.body;
    if (body !== undefined) headers['content-length'] = String(body.length);
    else if (PAYLOAD_METHODS.has(req.method)) headers['content-length'] = '0';
    const response = await request(url, {
      method: req.method as 'GET',
      headers,
      ...(body !== undefined ? { body } : {}),
      dispatcher: this.agent,
    });
    const bytes = Buffer.from(await response.body.arrayBuffer());
    return new ConformanceResponse(req.method, url, response.statusCode, response.headers, bytes);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Gomega matchers the suite uses, as predicates (so the allowed set reads like the Go source)
// ---------------------------------------------------------------------------------------------

/** `SatisfyAll(BeNumerically(">=", 200), BeNumerically("<", 300))` */
export function is2xx(status: number): boolean {
  return status >= 200 && status < 300;
}

/** Go's `Warn(message)`: printed, never a failure. */
export function warn(message: string): void {
  console.warn(`WARNING: ${message}`);
}

/** The JSON of `GET /v2/<name>/tags/list` as setup.go TagList reads it. */
export interface TagList {
  name?: string;
  tags?: string[] | null;
}

/** setup.go getTagList: the tags, or [] when the body is not a tag list. */
export function getTagList(resp: ConformanceResponse): string[] {
  try {
    const parsed = JSON.parse(resp.text()) as TagList;
    return parsed.tags ?? [];
  } catch {
    return [];
  }
}

/** image.go `index` as the referrers tests unmarshal it. */
export interface IndexBody {
  schemaVersion?: number;
  mediaType?: string;
  manifests?: Array<{ mediaType?: string; digest: string; size?: number; artifactType?: string; annotations?: Record<string, string> }> | null;
}

/** The setup upload of one blob: POST, then PUT to the session's relative Location; 2xx expected. */
export async function populateBlob(client: ConformanceClient, digest: string, contentLength: string, content: Buffer): Promise<void> {
  let req = client.newRequest('POST', '/v2/<name>/blobs/uploads/');
  let resp = await client.do(req);
  req = client
    .newRequest('PUT', resp.relativeLocation())
    .setQueryParam('digest', digest)
    .setHeader('Content-Type', 'application/octet-stream')
    .setHeader('Content-Length', contentLength)
    .setBody(content);
  resp = await client.do(req);
  expect(is2xx(resp.status), resp.describe()).toBe(true);
}

/** Teardown: delete a blob; 2xx, 404 or 405 (01_pull_test.go and 02_push_test.go accept all three). */
export async function deleteBlobAllowingAbsence(client: ConformanceClient, digest: string): Promise<void> {
  const req = client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest });
  const resp = await client.do(req);
  expect(is2xx(resp.status) || resp.status === 404 || resp.status === 405, resp.describe()).toBe(true);
}

/**
 * The registry under test for one test file, as the Go suite runs against one registry: a Berth
 * started before the file's tests and closed after them, and the client that talks to it.
 */
export function useRegistry(): ConformanceClient {
  const client = new ConformanceClient();
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await startBerth();
    client.rootUrl = server.url;
  });
  afterAll(async () => {
    await client.close();
    await server?.close();
  });
  return client;
}
