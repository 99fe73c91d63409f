/**
 * Errors of the web UI's pages, as pages: a caller who is not signed in (or whose session ended)
 * goes to the sign-in page and comes back afterwards; anything else is an error page in words with
 * the right status. A refusal never says whether the repository exists (the access hook refuses
 * before anything is looked up). Internals are logged, never shown.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../oci/errors.js';
import { renderError } from '../ui/pages/error.js';
import { url } from '../ui/html.js';
import { SESSION_COOKIE } from './cookie-names.js';
import { isFormRefusal } from './csrf.js';
import { clearSessionCookies } from './session-cookies.js';
import { setSecurityHeaders, viewerOf, type UiContext } from './ui-context.js';

const WORDS: Partial<Record<string, [number, string, string]>> = {
  NAME_UNKNOWN: [404, 'No such repository', 'There is no repository by that name.'],
  MANIFEST_UNKNOWN: [404, 'No such tag or digest', 'This repository has no tag or manifest by that name. It may have been deleted.'],
  NAME_INVALID: [400, 'Not a repository name', 'That is not a valid repository name.'],
  TAG_INVALID: [400, 'Not a tag', 'That is not a valid tag.'],
  DIGEST_INVALID: [400, 'Not a digest', 'That is not a valid digest.'],
  BODY_INVALID: [400, 'Not a valid request', 'Something in the address or the form was not valid.'],
  DENIED: [403, 'Not allowed', 'You may not see or do this. If you think you should, ask the registry operator.'],
  CLEANUP_REFUSED: [409, 'Nothing deleted', 'The repository still has tags, or a tagged manifest could not be read. Reload the page and try again.'],
  UNSUPPORTED: [404, 'Not available', 'This registry does not offer that.'],
  REQUEST_TIMEOUT: [408, 'Too slow', 'The form did not arrive in time. Go back and try again.'],
  BODY_TOO_LARGE: [413, 'Too large', 'The form was larger than Berth accepts.'],
};

/** The sign-in page, then back to `next` (a GET page; a refused form post returns to the list). */
function toSignIn(request: FastifyRequest, reply: FastifyReply, expired: boolean) {
  const next = request.method === 'GET' ? request.url : '/repositories';
  return reply
    .code(303)
    .header('cache-control', 'no-store')
    .redirect(url('/login', { next, error: expired ? 'session' : undefined }));
}

export function installPageErrors(app: FastifyInstance, context: UiContext): void {
  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const known = error instanceof RegistryError ? error : error.validation ? new RegistryError('BODY_INVALID', error.message) : undefined;
    const signedIn = request.access?.identity.username !== undefined;
    if (known && !isFormRefusal(known) && (known.key === 'UNAUTHORIZED' || (known.key === 'DENIED' && !signedIn))) {
      // Credentials were sent and refused before the identity was known: the session has ended.
      const expired = !request.access && request.cookies[SESSION_COOKIE] !== undefined;
      if (expired) clearSessionCookies(reply);
      return toSignIn(request, reply, expired);
    }
    let [status, title, message] = (known && WORDS[known.key]) ?? [500, 'Something went wrong', 'Berth could not show this page. Try again; if it keeps happening, tell the registry operator.'];
    if (isFormRefusal(known)) {
      [status, title, message] = [403, 'Form refused', 'This form was sent from another site, or it has expired. Go back, reload the page and try again.'];
    }
    if (status >= 500) request.log.error({ err: error }, 'page failed');
    else request.log.info({ code: known?.key, detail: known?.detail }, 'page refused');
    const page = renderError({ viewer: viewerOf(request, reply), assets: context.assets.urls, status, title, message });
    return reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(page);
  });
}

/**
 * A browser's request for an address Berth has no page at: an error page in words (API clients
 * still get the spec's JSON 404; errors.ts decides which).
 */
export function notFoundPage(context: UiContext): (request: FastifyRequest, reply: FastifyReply) => FastifyReply {
  return (request, reply) => {
    setSecurityHeaders(request.server, reply);
    const page = renderError({ viewer: viewerOf(request, reply), assets: context.assets.urls, status: 404, title: 'No such page', message: 'There is no page at this address.' });
    return reply.code(404).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(page);
  };
}
