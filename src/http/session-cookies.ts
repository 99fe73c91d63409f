/**
 * The cookies of a browser session, as zot sets them: `session` (HttpOnly, the signed session id)
 * and `user` (readable, so the UI knows who is signed in); SameSite=Lax, Secure behind https.
 */
import type { CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { signValue, unsignValue } from '../auth/cookie-keys.js';
import type { Security } from '../auth/security.js';
import { SESSION_TTL_MS, type SessionRecord } from '../auth/sessions.js';
import { SESSION_COOKIE, USER_COOKIE } from './cookie-names.js';

export function cookieOptions(security: Security, path: string, maxAgeMs: number, httpOnly = true): CookieSerializeOptions {
  return { path, httpOnly, sameSite: 'lax', secure: security.secureCookies, maxAge: Math.floor(maxAgeMs / 1000) };
}

/** Ends the session the request's cookie names (if any) and starts a new one: no fixation. */
export async function startSession(security: Security, request: FastifyRequest, reply: FastifyReply, record: Omit<SessionRecord, 'created' | 'expires'>): Promise<void> {
  await endSession(security, request, reply);
  const session = await security.sessions.create(record);
  reply.setCookie(SESSION_COOKIE, signValue(security.cookieKeys, session.id), cookieOptions(security, '/', SESSION_TTL_MS));
  reply.setCookie(USER_COOKIE, record.username, cookieOptions(security, '/', SESSION_TTL_MS, false));
}

/** Destroys the session the request's cookie names (server-side) and clears the cookies. */
export async function endSession(security: Security, request: FastifyRequest, reply: FastifyReply): Promise<SessionRecord | undefined> {
  const cookie = request.cookies[SESSION_COOKIE];
  const id = cookie === undefined ? undefined : unsignValue(security.cookieKeys, cookie);
  reply.clearCookie(SESSION_COOKIE, { path: '/' }).clearCookie(USER_COOKIE, { path: '/' });
  return id === undefined ? undefined : security.sessions.destroy(id);
}

/** The server-side record of the session the request's cookie names, if it is live. */
export async function currentSession(security: Security, request: FastifyRequest): Promise<SessionRecord | undefined> {
  const cookie = request.cookies[SESSION_COOKIE];
  const id = cookie === undefined ? undefined : unsignValue(security.cookieKeys, cookie);
  return id === undefined ? undefined : security.sessions.get(id);
}

/** Clears the browser's cookies of a session that has already ended server-side (expired). */
export function clearSessionCookies(reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, { path: '/' }).clearCookie(USER_COOKIE, { path: '/' });
}
