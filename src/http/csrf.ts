/**
 * CSRF tokens for the web UI's plain HTML forms (delete a tag, create or revoke an API key, sign
 * out, sign in with a password). A browser cannot put the UI header on a form post, so a form
 * proves it came from Berth's own page with a token: an HMAC, under the cookie MAC key, of the
 * browser's session id (or, before sign-in, of a random SameSite=Strict cookie, against login
 * CSRF). A page on another site cannot read the token, and cannot compute it for the victim's
 * session. Fetch Metadata and Origin are checked too, as a second lock.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { unsignValue } from '../auth/cookie-keys.js';
import type { Security } from '../auth/security.js';
import { isErrorKey, RegistryError } from '../oci/errors.js';
import { SESSION_COOKIE } from './cookie-names.js';
import { formField } from './request-body.js';
import { crossSiteReason } from './same-origin.js';

export const CSRF_FIELD = 'csrf';
/** Binds the sign-in form's token while there is no session yet. */
const PRE_SESSION_COOKIE = 'berth_form';
const PRE_SESSION_VALUE = /^[\w-]{43}$/;

function tokenFor(security: Security, binding: string): string {
  return createHmac('sha256', security.cookieKeys.mac).update(`berth-form\0${binding}`).digest('base64url');
}

function bindingOf(request: FastifyRequest, security: Security): string | undefined {
  const session = request.cookies[SESSION_COOKIE];
  const id = session === undefined ? undefined : unsignValue(security.cookieKeys, session);
  if (id !== undefined) return `session:${id}`;
  const pre = request.cookies[PRE_SESSION_COOKIE];
  return pre !== undefined && PRE_SESSION_VALUE.test(pre) ? `pre:${pre}` : undefined;
}

/** The token for the forms of the page being rendered; starts the pre-session cookie if needed. */
export function formToken(request: FastifyRequest, reply: FastifyReply, security: Security): string {
  let binding = bindingOf(request, security);
  if (binding === undefined) {
    const value = randomBytes(32).toString('base64url');
    // A cookie, not server state: rendering a page stays free of side effects.
    reply.setCookie(PRE_SESSION_COOKIE, value, { path: '/', httpOnly: true, sameSite: 'strict', secure: security.secureCookies });
    binding = `pre:${value}`;
  }
  return tokenFor(security, binding);
}

/** Why a form post was refused; the UI's error page explains it. */
export function isFormRefusal(error: unknown): boolean {
  return isErrorKey(error, 'DENIED') && (error.detail as { reason?: unknown } | undefined)?.reason === 'form';
}

function refused(why: string): RegistryError {
  return new RegistryError('DENIED', { reason: 'form', why });
}

/**
 * preHandler of every form post of the UI (attached by requireDeclaredAccess): refuses, before the
 * handler runs, a post from another site or without this browser's token.
 */
export async function requireFormToken(request: FastifyRequest): Promise<void> {
  const security = request.server.security;
  const elsewhere = crossSiteReason(request, security.externalUrl);
  if (elsewhere !== undefined) throw refused(elsewhere);
  const sent = formField(request, CSRF_FIELD);
  const binding = bindingOf(request, security);
  if (typeof sent !== 'string' || binding === undefined) throw refused('no form token');
  const expected = Buffer.from(tokenFor(security, binding));
  const given = Buffer.from(sent);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw refused('the form token does not match this browser');
}
