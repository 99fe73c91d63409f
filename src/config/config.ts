/** The validated, defaulted and frozen configuration the rest of Berth reads. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface StorageConfig {
  /** Absolute path of the storage root. */
  rootDirectory: string;
  dedupe: boolean;
  gc: boolean;
  gcDelayMs: number;
  gcIntervalMs: number;
}

export interface HttpConfig {
  address: string;
  port: number;
  externalUrl?: string;
  realm: string;
  readTimeoutMs: number;
  writeTimeoutMs: number;
}

export interface BerthConfig {
  /** Absolute path of the file this came from. */
  file: string;
  distSpecVersion: string;
  storage: StorageConfig;
  http: HttpConfig;
  log: { level: LogLevel; output?: string; audit?: string };
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
