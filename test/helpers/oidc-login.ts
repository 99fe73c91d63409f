/**
 * Drives an OpenID Connect login (and logout) over plain HTTP, the way a browser would, against the
 * test provider of oidc-provider.ts and any relying party (Berth, or the self-test's tiny RP).
 *
 * - `CookieJar`: a tiny cookie store, one per origin (scheme + host + port). A browser scopes
 *   cookies by host only, so on 127.0.0.1 it would send the RP's cookies to the provider and back;
 *   the names do not collide (`_session`, `_interaction*` at the provider), so this jar is stricter,
 *   not different, for these tests. Domain is ignored (host-only cookies); Secure, HttpOnly and
 *   SameSite are recorded for assertions but not enforced (everything is http on loopback).
 * - `fetchWithJar`: one request with the jar's cookies, storing the answer's Set-Cookie, no redirects.
 * - `loginThroughProvider`: from a URL at the RP (e.g. `<berth>/zot/auth/login?provider=oidc`),
 *   follows redirects by hand across both origins, fills the provider's login form, approves
 *   consent, and stops at the redirect back to the RP's callback: it then requests the callback
 *   (returning the RP's answer) or, with `stopBeforeCallback`, returns the callback URL with its
 *   code and state untouched so a test can tamper with them or replay them.
 * - `logoutThroughProvider`: follows an end_session URL, auto-submits or confirms the logout, and
 *   reports where the provider sent the browser afterwards.
 *
 * Usage:
 *   const login = await loginThroughProvider({ startUrl: `${berth.url}/zot/auth/login?provider=oidc`, username: 'alice' });
 *   expect(login.response.status).toBe(302);
 *   expect(login.jar.get(berth.url, 'session')?.httpOnly).toBe(true);
 *   const me = await fetchWithJar(login.jar, `${berth.url}/v2/`, { headers: { 'X-ZOT-API-CLIENT': 'zot-ui' } });
 *
 *   const stopped = await loginThroughProvider({ startUrl, username: 'bob', stopBeforeCallback: true });
 *   const forged = new URL(stopped.callbackUrl);
 *   forged.searchParams.set('state', 'forged');
 *   const answer = await fetchWithJar(stopped.jar, forged);    // expect 401
 *
 *   const out = await logoutThroughProvider({ endSessionUrl, jar: login.jar });
 *   expect(out.redirectUrl?.href).toBe(`${berth.url}/login`);
 */

export type FetchImpl = typeof fetch;

export interface StoredCookie {
  name: string;
  value: string;
  /** The origin that set it (the jar is per origin). */
  origin: string;
  path: string;
  /** Epoch milliseconds; undefined for a session cookie. */
  expires: number | undefined;
  httpOnly: boolean;
  secure: boolean;
  sameSite: string | undefined;
  /** The Set-Cookie header as received. */
  raw: string;
}

export class CookieJar {
  readonly #byOrigin = new Map<string, Map<string, StoredCookie>>();

  /** Stores the Set-Cookie headers of a response received from `url`. */
  storeFrom(url: string | URL, response: Response): void {
    this.store(url, response.headers.getSetCookie());
  }

  /** Stores Set-Cookie header values received from `url`; expired ones delete. */
  store(url: string | URL, setCookies: readonly string[]): void {
    const from = new URL(url);
    for (const raw of setCookies) {
      const cookie = parseSetCookie(raw, from);
      if (!cookie) continue;
      const cookies = this.#byOrigin.get(from.origin) ?? new Map<string, StoredCookie>();
      this.#byOrigin.set(from.origin, cookies);
      const key = `${cookie.path}\u0000${cookie.name}`;
      if (cookie.expires !== undefined && cookie.expires <= Date.now()) cookies.delete(key);
      else cookies.set(key, cookie);
    }
  }

  /** The live cookies that a request to `url` would carry, longest path first. */
  matching(url: string | URL): StoredCookie[] {
    const to = new URL(url);
    return this.#live(to.origin)
      .filter((cookie) => pathMatches(to.pathname, cookie.path))
      .sort((a, b) => b.path.length - a.path.length);
  }

  /** The Cookie header for a request to `url`, or undefined when there is none. */
  header(url: string | URL): string | undefined {
    const cookies = this.matching(url);
    return cookies.length ? cookies.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }

  /** A live cookie of `url`'s origin by name (any path; the longest path wins). */
  get(url: string | URL, name: string): StoredCookie | undefined {
    return this.#live(new URL(url).origin)
      .filter((cookie) => cookie.name === name)
      .sort((a, b) => b.path.length - a.path.length)[0];
  }

  /** Every live cookie, or those of `url`'s origin. */
  list(url?: string | URL): StoredCookie[] {
    if (url !== undefined) return this.#live(new URL(url).origin);
    return [...this.#byOrigin.keys()].flatMap((origin) => this.#live(origin));
  }

  /** Forgets the cookies of `url`'s origin, or all of them. */
  clear(url?: string | URL): void {
    if (url === undefined) this.#byOrigin.clear();
    else this.#byOrigin.delete(new URL(url).origin);
  }

  #live(origin: string): StoredCookie[] {
    const cookies = this.#byOrigin.get(origin);
    if (!cookies) return [];
    const now = Date.now();
    for (const [key, cookie] of cookies) if (cookie.expires !== undefined && cookie.expires <= now) cookies.delete(key);
    return [...cookies.values()];
  }
}

function parseSetCookie(raw: string, from: URL): StoredCookie | undefined {
  const [pair = '', ...attributes] = raw.split(';');
  const equals = pair.indexOf('=');
  if (equals <= 0) return undefined;
  const cookie: StoredCookie = {
    name: pair.slice(0, equals).trim(),
    value: pair.slice(equals + 1).trim(),
    origin: from.origin,
    path: defaultPath(from.pathname),
    expires: undefined,
    httpOnly: false,
    secure: false,
    sameSite: undefined,
    raw,
  };
  let maxAge: number | undefined;
  for (const attribute of attributes) {
    const at = attribute.indexOf('=');
    const key = (at < 0 ? attribute : attribute.slice(0, at)).trim().toLowerCase();
    const value = at < 0 ? '' : attribute.slice(at + 1).trim();
    if (key === 'path' && value.startsWith('/')) cookie.path = value;
    else if (key === 'expires') {
      const time = Date.parse(value);
      if (!Number.isNaN(time)) cookie.expires = time;
    } else if (key === 'max-age' && /^-?\d+$/.test(value)) maxAge = Number(value);
    else if (key === 'httponly') cookie.httpOnly = true;
    else if (key === 'secure') cookie.secure = true;
    else if (key === 'samesite') cookie.sameSite = value.toLowerCase();
  }
  // Max-Age wins over Expires (RFC 6265 5.3 step 3).
  if (maxAge !== undefined) cookie.expires = maxAge <= 0 ? 0 : Date.now() + maxAge * 1000;
  return cookie;
}

/** RFC 6265 5.1.4 default-path. */
function defaultPath(pathname: string): string {
  if (!pathname.startsWith('/')) return '/';
  const last = pathname.lastIndexOf('/');
  return last <= 0 ? '/' : pathname.slice(0, last);
}

/** RFC 6265 5.1.4 path-match. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/** One request with the jar's cookies (no redirect following); stores the response's cookies. */
export async function fetchWithJar(jar: CookieJar, url: string | URL, init: RequestInit = {}, fetchImpl: FetchImpl = fetch): Promise<Response> {
  const headers = new Headers(init.headers);
  const cookie = jar.header(url);
  if (cookie !== undefined && !headers.has('cookie')) headers.set('cookie', cookie);
  const response = await fetchImpl(url, { ...init, headers, redirect: 'manual' });
  jar.storeFrom(url, response);
  return response;
}

// ---------------------------------------------------------------------------------------------
// The login driver

export interface OidcStep {
  method: string;
  url: string;
  status: number;
}

/** Thrown when the flow does not reach the callback: error page, unknown user, loop... */
export class OidcDriverError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly steps: OidcStep[],
    /** The provider's `error` code when it rendered its error page (or `login_failed`). */
    readonly error: string | undefined,
    readonly body: string | undefined,
  ) {
    super(message);
    this.name = 'OidcDriverError';
  }
}

export interface LoginOptions {
  /** Where a browser would start, at the relying party (or directly an authorization URL). */
  startUrl: string | URL;
  username: string;
  /** Only needed for users created with a password. */
  password?: string;
  /** Reuse a jar to keep the provider session (SSO: no login form) or the RP's cookies. */
  jar?: CookieJar;
  fetchImpl?: FetchImpl;
  /**
   * The RP's callback URL (origin + path; the query is ignored). Default: the first URL on the
   * start URL's origin reached after visiting another origin.
   */
  callbackUrl?: string | URL;
  /** Return the callback URL (with code & state) without requesting it. */
  stopBeforeCallback?: boolean;
  /** Press Cancel / Deny at that step instead: the RP gets `error=access_denied`. */
  abortAt?: 'login' | 'consent';
  /** Extra headers for every request (e.g. a User-Agent). */
  headers?: Record<string, string>;
  /** Give up after this many requests (default 20). */
  maxSteps?: number;
}

export interface StoppedLogin {
  /** The RP callback URL the provider sent the browser to (for form_post: the form action). */
  callbackUrl: URL;
  callbackMethod: 'GET' | 'POST';
  /** The posted parameters when the provider used response_mode=form_post. */
  callbackBody: URLSearchParams | undefined;
  /** The callback parameters (query, or body for form_post). */
  params: URLSearchParams;
  code: string | undefined;
  state: string | undefined;
  /** An error sent to the RP instead of a code (`access_denied`, `invalid_request`, ...). */
  error: string | undefined;
  jar: CookieJar;
  steps: OidcStep[];
  /** Whether the provider asked for credentials (false when its session was reused). */
  loginShown: boolean;
  consentShown: boolean;
}

export interface CompletedLogin extends StoppedLogin {
  /** The RP's answer to the callback request, body unread (Set-Cookie already in the jar). */
  response: Response;
}

interface PendingRequest {
  url: URL;
  method: 'GET' | 'POST';
  body: URLSearchParams | undefined;
}

export function loginThroughProvider(options: LoginOptions & { stopBeforeCallback: true }): Promise<StoppedLogin>;
export function loginThroughProvider(options: LoginOptions & { stopBeforeCallback?: false }): Promise<CompletedLogin>;
export function loginThroughProvider(options: LoginOptions): Promise<StoppedLogin | CompletedLogin>;
export async function loginThroughProvider(options: LoginOptions): Promise<StoppedLogin | CompletedLogin> {
  const jar = options.jar ?? new CookieJar();
  const fetchImpl = options.fetchImpl ?? fetch;
  const steps: OidcStep[] = [];
  const start = new URL(options.startUrl);
  const callback = options.callbackUrl === undefined ? undefined : new URL(options.callbackUrl);
  const maxSteps = options.maxSteps ?? 20;
  let leftStart = false;
  let loginShown = false;
  let consentShown = false;
  let next: PendingRequest = { url: start, method: 'GET', body: undefined };

  const fail = (message: string, status?: number, error?: string, body?: string): never => {
    throw new OidcDriverError(`${message}\nsteps:\n${formatSteps(steps)}`, status, steps, error, body);
  };

  const isCallback = (url: URL): boolean => (callback ? url.origin === callback.origin && url.pathname === callback.pathname : leftStart && url.origin === start.origin);

  for (let count = 0; count < maxSteps; count += 1) {
    if (isCallback(next.url)) {
      const params = next.method === 'POST' && next.body ? next.body : next.url.searchParams;
      const stopped: StoppedLogin = {
        callbackUrl: next.url,
        callbackMethod: next.method,
        callbackBody: next.method === 'POST' ? next.body : undefined,
        params,
        code: params.get('code') ?? undefined,
        state: params.get('state') ?? undefined,
        error: params.get('error') ?? undefined,
        jar,
        steps,
        loginShown,
        consentShown,
      };
      if (options.stopBeforeCallback) return stopped;
      const response = await send(next);
      return { ...stopped, response };
    }
    if (next.url.origin !== start.origin) leftStart = true;

    const response = await send(next);
    const current = next.url;
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location !== null) {
      await response.body?.cancel();
      const keepsMethod = response.status === 307 || response.status === 308;
      next = {
        url: new URL(location, current),
        method: keepsMethod ? next.method : 'GET',
        body: keepsMethod ? next.body : undefined,
      };
      continue;
    }

    const body = await response.text();
    const kind = pageKind(body);
    const providerError = errorOf(body, kind);
    if (providerError) {
      fail(`provider error at ${current.href}: ${providerError.error}: ${providerError.description}`, response.status, providerError.error, body);
    }
    if (kind === 'login') {
      if (response.status === 401) fail(`login refused for ${options.username}`, 401, 'login_failed', body);
      loginShown = true;
      const forms = parseForms(body, current);
      const form = forms.find((f) => f.action.pathname.endsWith(options.abortAt === 'login' ? '/abort' : '/login'));
      if (!form) fail(`no ${options.abortAt === 'login' ? 'abort' : 'login'} form at ${current.href}`, response.status);
      const fields = new URLSearchParams(form?.fields);
      if (options.abortAt !== 'login') {
        fields.set('username', options.username);
        fields.set('password', options.password ?? '');
      }
      next = { url: form!.action, method: 'POST', body: fields };
      continue;
    }
    if (kind === 'consent') {
      consentShown = true;
      const forms = parseForms(body, current);
      const form = forms.find((f) => f.action.pathname.endsWith(options.abortAt === 'consent' ? '/abort' : '/confirm'));
      if (!form) fail(`no consent form at ${current.href}`, response.status);
      next = { url: form!.action, method: 'POST', body: new URLSearchParams(form!.fields) };
      continue;
    }
    if (kind === undefined && response.ok && isAutoSubmit(body)) {
      // oidc-provider's own self-submitting pages (response_mode=form_post, ...).
      const form = parseForms(body, current)[0];
      if (!form) fail(`auto-submit page without a form at ${current.href}`, response.status);
      next = { url: form!.action, method: form!.method, body: new URLSearchParams(form!.fields) };
      continue;
    }
    fail(`unexpected ${response.status} ${kind ?? 'page'} at ${current.href}: ${body.slice(0, 300)}`, response.status, undefined, body);
  }
  return fail(`no callback after ${maxSteps} requests`);

  async function send(request: PendingRequest): Promise<Response> {
    const headers: Record<string, string> = { accept: BROWSER_ACCEPT, ...options.headers };
    if (request.body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await fetchWithJar(jar, request.url, { method: request.method, headers, body: request.body?.toString() }, fetchImpl);
    steps.push({ method: request.method, url: request.url.href, status: response.status });
    return response;
  }
}

// ---------------------------------------------------------------------------------------------
// The logout driver

export interface LogoutOptions {
  /** The end_session URL the RP built (`id_token_hint`, `client_id`, `post_logout_redirect_uri`, `state`). */
  endSessionUrl: string | URL;
  /** The jar holding the provider's session cookies (from loginThroughProvider). */
  jar: CookieJar;
  fetchImpl?: FetchImpl;
  /** Press "Yes, sign me out" when a confirmation page shows (default true); false stops there. */
  confirm?: boolean;
  maxSteps?: number;
}

export interface LogoutResult {
  /** Whether the provider asked the user to confirm (it does not with a valid id_token_hint). */
  confirmationShown: boolean;
  /** Whether the logout was carried out (false only when stopped at the confirmation page). */
  completed: boolean;
  /** Where the provider sent the browser afterwards (post_logout_redirect_uri + state); not requested. */
  redirectUrl: URL | undefined;
  /** The provider's last response (the success page when there was no post_logout_redirect_uri). */
  status: number;
  steps: OidcStep[];
}

export async function logoutThroughProvider(options: LogoutOptions): Promise<LogoutResult> {
  const fetchImpl = options.fetchImpl ?? fetch;
  const steps: OidcStep[] = [];
  const providerOrigin = new URL(options.endSessionUrl).origin;
  let confirmationShown = false;
  let next: PendingRequest = { url: new URL(options.endSessionUrl), method: 'GET', body: undefined };
  const fail = (message: string, status?: number, error?: string, body?: string): never => {
    throw new OidcDriverError(`${message}\nsteps:\n${formatSteps(steps)}`, status, steps, error, body);
  };

  for (let count = 0; count < (options.maxSteps ?? 10); count += 1) {
    if (next.url.origin !== providerOrigin) {
      return { confirmationShown, completed: true, redirectUrl: next.url, status: steps.at(-1)?.status ?? 0, steps };
    }
    const headers: Record<string, string> = { accept: BROWSER_ACCEPT };
    if (next.body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await fetchWithJar(options.jar, next.url, { method: next.method, headers, body: next.body?.toString() }, fetchImpl);
    steps.push({ method: next.method, url: next.url.href, status: response.status });
    const current = next.url;
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location !== null) {
      await response.body?.cancel();
      next = { url: new URL(location, current), method: 'GET', body: undefined };
      continue;
    }
    const body = await response.text();
    const kind = pageKind(body);
    if (kind === 'logout-success') {
      return { confirmationShown, completed: true, redirectUrl: undefined, status: response.status, steps };
    }
    const providerError = errorOf(body, kind);
    if (providerError) {
      fail(`provider error at ${current.href}: ${providerError.error}: ${providerError.description}`, response.status, providerError.error, body);
    }
    const form = parseForms(body, current)[0];
    if (kind === 'logout-confirm') {
      confirmationShown = true;
      if (options.confirm === false) return { confirmationShown, completed: false, redirectUrl: undefined, status: response.status, steps };
      if (!form) fail(`no logout form at ${current.href}`, response.status);
      const fields = new URLSearchParams(form!.fields);
      fields.set('logout', 'yes'); // the "Yes, sign me out" button
      next = { url: form!.action, method: 'POST', body: fields };
      continue;
    }
    if ((kind === 'logout-auto' || (kind === undefined && isAutoSubmit(body))) && form) {
      next = { url: form.action, method: form.method, body: new URLSearchParams(form.fields) };
      continue;
    }
    fail(`unexpected ${response.status} at ${current.href}: ${body.slice(0, 300)}`, response.status, undefined, body);
  }
  return fail('logout did not finish');
}

// ---------------------------------------------------------------------------------------------
// Minimal HTML reading: only the provider's own pages (oidc-provider.ts and oidc-provider's
// form_post pages) are parsed, so regular expressions are enough.

interface ParsedForm {
  action: URL;
  method: 'GET' | 'POST';
  /** Named inputs with their values (buttons excluded). */
  fields: Array<[string, string]>;
}

/** What a browser sends on navigation: oidc-provider answers errors as JSON unless HTML is preferred. */
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

/** The error of the harness's error page, or of a JSON `{error, error_description}` body. */
function errorOf(body: string, kind: string | undefined): { error: string; description: string } | undefined {
  if (kind === 'error') {
    return { error: attribute(body, 'data-error') ?? '', description: attribute(body, 'data-error-description') ?? '' };
  }
  if (kind !== undefined || !body.trimStart().startsWith('{')) return undefined;
  try {
    const json = JSON.parse(body) as { error?: unknown; error_description?: unknown };
    if (typeof json.error !== 'string') return undefined;
    return { error: json.error, description: typeof json.error_description === 'string' ? json.error_description : '' };
  } catch {
    return undefined;
  }
}

function pageKind(html: string): string | undefined {
  return /<meta name="harness-page" content="([^"]*)"/.exec(html)?.[1];
}

function isAutoSubmit(html: string): boolean {
  return /document\.forms\[0\]\.submit\(\)/.test(html);
}

function attribute(html: string, name: string): string | undefined {
  const value = new RegExp(`${name}="([^"]*)"`).exec(html)?.[1];
  return value === undefined ? undefined : decodeEntities(value);
}

function parseForms(html: string, base: URL): ParsedForm[] {
  const forms: ParsedForm[] = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attributes = parseAttributes(match[1] ?? '');
    const fields: Array<[string, string]> = [];
    for (const input of (match[2] ?? '').matchAll(/<input\b([^>]*?)\/?>/gi)) {
      const inputAttributes = parseAttributes(input[1] ?? '');
      const name = inputAttributes.get('name');
      if (name !== undefined) fields.push([name, inputAttributes.get('value') ?? '']);
    }
    forms.push({
      action: new URL(attributes.get('action') ?? base.href, base),
      method: (attributes.get('method') ?? 'get').toUpperCase() === 'POST' ? 'POST' : 'GET',
      fields,
    });
  }
  return forms;
}

function parseAttributes(source: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const match of source.matchAll(/([\w:.-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g)) {
    const name = (match[1] ?? '').toLowerCase();
    attributes.set(name, decodeEntities(match[2] ?? match[3] ?? match[4] ?? ''));
  }
  return attributes;
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_all, entity: string) => {
    const lower = entity.toLowerCase();
    if (lower.startsWith('#x')) return String.fromCodePoint(Number.parseInt(lower.slice(2), 16));
    if (lower.startsWith('#')) return String.fromCodePoint(Number.parseInt(lower.slice(1), 10));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[lower] ?? '';
  });
}

function formatSteps(steps: readonly OidcStep[]): string {
  return steps.map((step) => `  ${step.method} ${step.url} -> ${step.status}`).join('\n');
}
