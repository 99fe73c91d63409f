/** The validated, defaulted and frozen configuration the rest of Berth reads. */
import type { RetentionConfig } from './retention-config.js';
import type { EventsConfig, EventSinkConfig } from './events-config.js';
import type { SyncConfig, SyncRegistryConfig, SyncContentRule } from './sync-config.js';

export type { RetentionConfig, EventsConfig, EventSinkConfig, SyncConfig, SyncRegistryConfig, SyncContentRule };
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface StorageConfig {
  /** Absolute path of the storage root. */
  rootDirectory: string;
  dedupe: boolean;
  gc: boolean;
  gcDelayMs: number;
  gcIntervalMs: number;
  retention: RetentionConfig;
  /** zot's `storageDriver` (name "s3"): blobs and manifests in a bucket instead of rootDirectory. */
  s3?: S3StorageConfig;
  /** zot's `cacheDriver` (name "redis"): what replicas share (locks, upload sessions, records). */
  redis?: RedisConfig;
}

/**
 * The S3 connection, as zot.json's storageDriver gives it once read (remote-config.ts): the one
 * settings type, which storage/s3-client.ts builds its client from and S3Store reads its bucket and
 * prefix from (storage may import config; config never imports storage).
 */
export interface S3StorageConfig {
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing slashes ('' for the bucket's root). */
  rootDirectory: string;
  region: string;
  /**
   * Absolute URL of an S3-compatible endpoint (Ceph RGW, MinIO); absent for AWS itself. zot's
   * "host:port" has already taken its scheme from `secure` (remote-config.ts).
   */
  endpoint?: string;
  /** `endpoint/bucket/key` rather than `bucket.endpoint/key` (RGW and MinIO want this). */
  forcePathStyle: boolean;
  /** Accept any TLS certificate from the endpoint (a self-signed test RGW); never in production. */
  skipVerify: boolean;
  /** Both or neither: inline keys (warned about); otherwise the AWS SDK's chain (AWS_ACCESS_KEY_ID, web identity, ...). */
  accessKey?: string;
  secretKey?: string;
}

export interface RedisConfig {
  url: string;
  keyPrefix: string;
}

export interface PolicyConfig {
  users?: string[];
  groups?: string[];
  actions?: string[];
}

export interface RepositoryRules {
  policies?: PolicyConfig[];
  defaultPolicy?: string[];
  anonymousPolicy?: string[];
}

/** zot's `http.accessControl`, as written (keys normalised). */
export interface AccessControlConfig {
  groups?: Record<string, { users?: string[] }>;
  repositories?: Record<string, RepositoryRules>;
  adminPolicy?: PolicyConfig;
  metrics?: { users?: string[]; anonymousPolicy?: string[] };
}

/** One OpenID Provider, with its client credentials resolved (credentialsFile wins over inline). */
export interface OidcProviderConfig {
  /** The key under `providers` (`oidc` in zot): part of the callback path. */
  key: string;
  /** Button label. */
  name: string;
  issuer: string;
  clientId: string;
  /** Absent for a public client (PKCE only). */
  clientSecret?: string;
  scopes: string[];
  claimMapping: { username: string; groups: string };
  /** Berth's own key: the provider's server-side endpoints may be plain http on cluster-internal hosts. */
  allowHttpEndpoints: boolean;
}

/** One issuer of workload ID tokens (`http.auth.bearer.oidc[]`); expressions are CEL, already parsed once. */
export interface WorkloadIssuerConfig {
  /** Without a trailing slash. */
  issuer: string;
  audiences: string[];
  claimMapping: { variables: { name: string; expression: string }[]; validations: { expression: string; message: string }[]; username: string; groups?: string };
  /** PEM that the issuer's TLS certificate must chain to (instead of the system's roots). */
  certificateAuthority?: string;
  skipIssuerVerification: boolean;
}

/** zot's `http.auth.bearer`. */
export interface BearerConfig {
  realm?: string;
  service?: string;
  oidc: WorkloadIssuerConfig[];
}

export interface AuthConfig {
  /** Waited before answering failed credentials (zot's `failDelay`, seconds). */
  failDelayMs: number;
  /** Absolute path of the htpasswd file, when Basic auth against it is on. */
  htpasswdPath?: string;
  openid?: { providers: OidcProviderConfig[]; callbackAllowOrigins: string[] };
  /** Workload ID tokens and registry tokens (zot's `bearer`). */
  bearer?: BearerConfig;
  /** API keys as Basic passwords (zot's `apikey`; on whenever openid is). */
  apikey: boolean;
  /** `{"hashKey", "encryptKey"}` that keep cookies valid across restarts and replicas. */
  sessionKeysFile?: string;
  /** Secure cookies although Berth itself speaks HTTP (TLS ends at a proxy). */
  secureSession: boolean;
  /** zot's `sessionDriver` (name "redis"): browser sessions shared by replicas. */
  sessionRedis?: RedisConfig;
}

export interface HttpConfig {
  address: string;
  port: number;
  externalUrl?: string;
  realm: string;
  readTimeoutMs: number;
  auth: AuthConfig;
  accessControl?: AccessControlConfig;
  /** HTTPS from these PEM files, re-read when they change. */
  tls?: { certFile: string; keyFile: string };
  /** zot's `ratelimit`: requests per second for all clients together, and per method. */
  rateLimit?: { rate?: number; methods: Record<string, number> };
}

export interface BerthConfig {
  /** Absolute path of the file this came from. */
  file: string;
  distSpecVersion: string;
  storage: StorageConfig;
  http: HttpConfig;
  log: { level: LogLevel; output?: string; audit?: string };
  /** zot's `extensions`, as far as Berth implements them. */
  extensions: { ui: boolean; scrub?: { intervalMs: number }; metrics?: { path: string }; events?: EventsConfig; sync?: SyncConfig };
  /** Lines to log once the logger exists: keys accepted but without effect in Berth. */
  warnings: string[];
}

export const DIST_SPEC_VERSION = '1.1.1';

/** A config file Berth refuses; `problems` are one line each, naming the file and JSON path. */
export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
