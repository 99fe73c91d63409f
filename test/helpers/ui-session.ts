/**
 * Browser-like helpers for the web UI over plain HTTP: a password sign-in (zot's: GET /v2/ with
 * Basic and the UI header), and requests that carry the session cookie with or without the header.
 */
import { request } from 'undici';
import { basicAuth } from './htpasswd.js';

export const UI_HEADER = { 'x-zot-api-client': 'zot-ui' };
/** What a browser's own top-level navigation or form post says (undici's fetch says `cors` otherwise). */
export const NAVIGATION = { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', 'sec-fetch-site': 'same-origin' };

export interface UiSession {
  /** `session=...; user=...` as a browser would send it. */
  cookie: string;
  /** A request with the cookie and the UI header (the UI's own fetch calls). */
  api(url: string, init?: RequestInit): Promise<Response>;
  /** A request with the cookie only, as a same-origin top-level navigation or form post sends it. */
  browse(url: string, init?: RequestInit): Promise<Response>;
}

export async function signInWithPassword(base: string, username: string, password: string): Promise<UiSession> {
  const response = await fetch(`${base}/v2/`, { headers: { ...UI_HEADER, authorization: basicAuth(username, password) } });
  if (response.status !== 200) throw new Error(`sign-in of ${username}: ${response.status}`);
  const cookie = response.headers
    .getSetCookie()
    .map((line) => line.split(';')[0]!)
    .join('; ');
  const api = (target: string, init: RequestInit = {}) =>
    fetch(`${base}${target}`, { redirect: 'manual', ...init, headers: { cookie, ...UI_HEADER, ...(init.headers as Record<string, string> | undefined) } });
  const browse = (target: string, init: RequestInit = {}) => navigate(`${base}${target}`, { ...init, headers: { cookie, ...(init.headers as Record<string, string> | undefined) } });
  return { cookie, api, browse };
}

/**
 * A request as a browser's navigation or form post sends it, with its Fetch Metadata (Node's
 * fetch would overwrite Sec-Fetch-Mode with `cors`, so this goes through undici's plain request).
 * Redirects are not followed.
 */
export async function navigate(target: string, init: RequestInit = {}): Promise<Response> {
  const headers = { ...NAVIGATION, ...(init.headers as Record<string, string> | undefined) };
  const response = await request(target, { method: (init.method ?? 'GET') as 'GET', headers, body: init.body as string | undefined });
  const answer = new Headers();
  for (const [name, value] of Object.entries(response.headers)) for (const item of ([] as string[]).concat(value ?? [])) answer.append(name, item);
  const body = await response.body.arrayBuffer();
  return new Response(response.statusCode === 304 ? null : body, { status: response.statusCode, headers: answer });
}

/** The CSRF token of the first form on an HTML page. */
export function formTokenOf(page: string): string {
  const token = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
  if (!token) throw new Error('the page has no form token');
  return token;
}

/**
 * The password form as a browser sends it: the sign-in page first (its token, and the pre-session
 * cookie the token is bound to), then the post. `headers` go on both (an X-Forwarded-For, say).
 */
export async function postPasswordForm(base: string, username: string, password: string, headers: Record<string, string> = {}): Promise<Response> {
  const page = await navigate(`${base}/login`, { headers });
  const cookie = page.headers
    .getSetCookie()
    .map((line) => line.split(';')[0]!)
    .join('; ');
  const body = new URLSearchParams({ csrf: formTokenOf(await page.text()), username, password }).toString();
  return navigate(`${base}/login`, { method: 'POST', body, headers: { ...headers, cookie, 'content-type': 'application/x-www-form-urlencoded' } });
}
