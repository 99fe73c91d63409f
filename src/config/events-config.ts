/**
 * zot's `extensions.events`: CloudEvents to HTTP and NATS sinks. Read here into the shape the
 * events module uses: durations in ms, credentials resolved (from a file or `${ENV}` references,
 * so no secret needs to sit in zot.json), TLS files absolute. `proxy` is refused by name: Berth
 * does not route sink traffic through one, and silently going direct would surprise the operator.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDuration } from './duration.js';
import type { ZotEvents } from './zot-config.js';

export interface EventSinkConfig {
  type: 'http' | 'nats';
  address: string;
  /** NATS subject (required for NATS); for HTTP zot sets it as the `channel` extension attribute. */
  channel?: string;
  timeoutMs: number;
  headers: Record<string, string>;
  /** Resolved: `username`/`password` (Basic for HTTP, user info for NATS) or `token` (Bearer / NATS token). */
  credentials?: { username?: string; password?: string; token?: string };
  /** NATS only: a `.creds` file (JWT + nkey seed), zot's `credentials.file`. */
  natsCredentialsFile?: string;
  tls?: { caCertFile?: string; certFile?: string; keyFile?: string };
}

export interface EventsConfig {
  sinks: EventSinkConfig[];
  /** CloudEvents `source` (zot's `source`; default zot's own `zotregistry.dev`). */
  source: string;
  /** Namespace of the event types (zot's `typePrefix`; default `zotregistry`). */
  typePrefix: string;
  /** Berth's own `deliveryMaxAge`: an event not accepted by a sink within this is logged and dropped. */
  deliveryMaxAgeMs: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_AGE_MS = 24 * 3_600_000;
const ENV_REFERENCE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

const MAX_TIMEOUT_MS = 3_600_000;
/** A header name (RFC 9110 token) and a value without line breaks or NUL. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[^\r\n\0]*$/;
/**
 * What goes out as a header value of its own (`source` as ce-source, an HTTP sink's `channel` as
 * ce-channel; the schema already limits `typePrefix`): printable ASCII, space and tab. undici
 * refuses a request with a control character or a character past U+00FF in a header
 * (UND_ERR_INVALID_ARG), so every send would fail and be retried until deliveryMaxAge; a Latin-1
 * letter it sends as one byte, which the receiver reads as something else.
 */
const ATTRIBUTE_VALUE = /^[\t\x20-\x7e]*$/;
/** A NATS subject to publish on: dot-separated tokens without spaces, control characters or wildcards. */
function isNatsSubject(subject: string): boolean {
  return subject.split('.').every((token) => token !== '' && ![...token].some((char) => char <= ' ' || char === '\x7f' || char === '*' || char === '>'));
}
/** Below this, `deliveryMaxAge` drops events before their first retries (at "0", before any attempt). */
const MIN_MAX_AGE_MS = 60_000;
/** Headers that frame or route the request: the HTTP client sets them, and refuses a request that carries its own. */
const TRANSPORT_HEADERS = new Set(['connection', 'content-length', 'expect', 'host', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * An HTTP sink's `headers`, names lowercased (so one the event sets replaces the config's, never
 * goes out twice). Refused: what the HTTP client must set itself, what the event sets (`ce-*`), an
 * `authorization` beside `credentials`, a name given twice in different case, a value with a line
 * break. A `content-type` is dropped with a warning: the event's own describes the body.
 */
function readHeaders(raw: Record<string, string>, type: EventSinkConfig['type'], hasCredentials: boolean, where: string, problems: string[], warnings: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  if (type === 'nats') {
    if (Object.keys(raw).length > 0) warnings.push(`${where}: headers are for http sinks; a nats sink does not send them`);
    return headers;
  }
  for (const [name, value] of Object.entries(raw)) {
    const key = name.toLowerCase();
    if (!HEADER_NAME.test(name)) problems.push(`${where}/${name}: not a valid header name`);
    else if (!HEADER_VALUE.test(value)) problems.push(`${where}/${name}: a header value cannot hold a line break or NUL`);
    else if (TRANSPORT_HEADERS.has(key)) problems.push(`${where}/${name}: set by the HTTP client itself; remove it`);
    else if (key.startsWith('ce-')) problems.push(`${where}/${name}: CloudEvents attributes are set by the event; remove it`);
    else if (key === 'authorization' && hasCredentials) problems.push(`${where}/${name}: either an authorization header or credentials, not both`);
    else if (Object.hasOwn(headers, key)) problems.push(`${where}/${name}: given twice (header names are case-insensitive)`);
    else if (key === 'content-type') warnings.push(`${where}/${name}: ignored; an event is sent with its own content type`);
    else headers[key] = value;
  }
  return headers;
}

/** `${NAME}` reads the environment; anything else is the value itself (warned about: a secret in the file). */
function secret(value: string | undefined, where: string, problems: string[], warnings: string[]): string | undefined {
  if (value === undefined) return undefined;
  const reference = ENV_REFERENCE.exec(value);
  if (!reference) {
    if (value !== '') warnings.push(`${where}: a secret written in the config file; prefer "\${ENV_NAME}" or credentials.file`);
    return value;
  }
  const found = process.env[reference[1]!];
  if (found === undefined) problems.push(`${where}: environment variable ${reference[1]} is not set`);
  return found;
}

/** Reads `extensions.events` (already schema-checked, keys normalised); undefined when off. */
export function readEvents(raw: ZotEvents | undefined, file: string, problems: string[], warnings: string[]): EventsConfig | undefined {
  if (!raw || raw.enable !== true) return undefined;
  const at = `${file}: /extensions/events`;
  const sinks: EventSinkConfig[] = [];
  (raw.sinks ?? []).forEach((item, index) => {
    const where = `${at}/sinks/${index}`;
    if (item.proxy !== undefined && item.proxy !== '') problems.push(`${where}/proxy: Berth does not send events through a proxy; remove the key (the sink is reached directly)`);
    let url: URL | undefined;
    try {
      url = new URL(item.address);
    } catch {
      // Not repeated: a malformed address may hold a password.
      problems.push(`${where}/address: not a URL`);
    }
    if (url && item.type === 'http' && url.protocol !== 'http:' && url.protocol !== 'https:') problems.push(`${where}/address: an http sink needs an http:// or https:// URL`);
    if (url && item.type === 'nats' && !['nats:', 'tls:'].includes(url.protocol)) problems.push(`${where}/address: a nats sink needs a nats:// or tls:// URL`);
    if (url && (url.username || url.password)) problems.push(`${where}/address: credentials in the URL; use credentials (they are never logged)`);
    if (item.type === 'nats' && !item.channel) problems.push(`${where}/channel: a nats sink needs a subject to publish on`);
    if (item.type === 'nats' && item.channel && !isNatsSubject(item.channel)) problems.push(`${where}/channel: not a NATS subject to publish on (dot-separated tokens, no spaces, control characters nor wildcards)`);
    if (item.type === 'http' && item.channel && !ATTRIBUTE_VALUE.test(item.channel)) problems.push(`${where}/channel: printable ASCII only (it is sent as the ce-channel header)`);
    const timeoutMs = item.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(item.timeout) ?? DEFAULT_TIMEOUT_MS;
    if (timeoutMs <= 0) problems.push(`${where}/timeout: must be more than 0`);
    if (timeoutMs > MAX_TIMEOUT_MS) problems.push(`${where}/timeout: at most 1h (a delivery that takes longer holds every later event of the sink)`);
    const headers = readHeaders(item.headers ?? {}, item.type, item.credentials !== undefined, `${where}/headers`, problems, warnings);
    const sink: EventSinkConfig = { type: item.type, address: item.address, timeoutMs, headers };
    if (item.channel) sink.channel = item.channel;
    const credentials = item.credentials;
    if (credentials) {
      let resolved: EventSinkConfig['credentials'] = {};
      if (credentials.file !== undefined && item.type === 'nats') sink.natsCredentialsFile = path.resolve(credentials.file);
      else if (credentials.file !== undefined) {
        try {
          const document = JSON.parse(readFileSync(credentials.file, 'utf8')) as Record<string, unknown>;
          for (const key of ['username', 'password', 'token'] as const) if (typeof document[key] === 'string') resolved[key] = document[key] as string;
        } catch (error) {
          problems.push(`${where}/credentials/file: cannot read ${credentials.file} as JSON {"username","password"} or {"token"}: ${(error as NodeJS.ErrnoException).code ?? 'invalid JSON'}`);
        }
      }
      resolved = {
        ...resolved,
        ...(credentials.username !== undefined ? { username: credentials.username } : {}),
        ...(credentials.password !== undefined ? { password: secret(credentials.password, `${where}/credentials/password`, problems, warnings)! } : {}),
        ...(credentials.token !== undefined ? { token: secret(credentials.token, `${where}/credentials/token`, problems, warnings)! } : {}),
      };
      if (resolved.token !== undefined && resolved.username !== undefined) problems.push(`${where}/credentials: either username/password or token, not both`);
      if (Object.keys(resolved).length > 0) sink.credentials = resolved;
    }
    const tls = { ...item.tls, ...(item.cacertfile !== undefined ? { cacertfile: item.cacertfile } : {}), ...(item.certfile !== undefined ? { certfile: item.certfile } : {}), ...(item.keyfile !== undefined ? { keyfile: item.keyfile } : {}) };
    if (Object.keys(tls).length > 0) {
      if ((tls.certfile === undefined) !== (tls.keyfile === undefined)) problems.push(`${where}: certfile and keyfile go together`);
      sink.tls = {
        ...(tls.cacertfile ? { caCertFile: path.resolve(tls.cacertfile) } : {}),
        ...(tls.certfile ? { certFile: path.resolve(tls.certfile) } : {}),
        ...(tls.keyfile ? { keyFile: path.resolve(tls.keyfile) } : {}),
      };
    }
    sinks.push(sink);
  });
  if (sinks.length === 0) warnings.push(`${at}/sinks: events are on but there is no sink; nothing is recorded`);
  // Two sinks with the same type, address and channel have the same key (sinkKey in events/sink.ts):
  // one cursor, one lock, one metrics label for both.
  const seen = new Map<string, number>();
  sinks.forEach((sink, index) => {
    const identity = `${sink.type}\n${sink.address}\n${sink.channel ?? ''}`;
    const first = seen.get(identity);
    if (first === undefined) seen.set(identity, index);
    else problems.push(`${at}/sinks/${index}: the same sink as /extensions/events/sinks/${first} (type, address and channel); list it once`);
  });
  const source = raw.source ?? 'zotregistry.dev';
  if (!ATTRIBUTE_VALUE.test(source)) problems.push(`${at}/source: printable ASCII only (it is sent as the ce-source header)`);
  const typePrefix = raw.typePrefix ?? 'zotregistry';
  const deliveryMaxAgeMs = raw.deliveryMaxAge === undefined ? DEFAULT_MAX_AGE_MS : parseDuration(raw.deliveryMaxAge) ?? DEFAULT_MAX_AGE_MS;
  if (deliveryMaxAgeMs < MIN_MAX_AGE_MS) problems.push(`${at}/deliveryMaxAge: at least 1m (an event older than this is dropped, retries or not; 0 would drop every event before its first attempt)`);
  return { sinks, source, typePrefix, deliveryMaxAgeMs };
}
