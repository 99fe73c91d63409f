/**
 * Every check of a password or API key goes through the sign-in limits (src/auth/sign-in-limits.ts):
 * Basic credentials on any route (the access hook) and the password form. An attempt the limits
 * refuse unchecked is counted in /metrics (`berth_sign_in_blocked_total{scope}`) and audited
 * (outcome `blocked`, the user name tried); the caller answers it: 429 with Retry-After, or the
 * sign-in page.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SignInAttempt, SignInLimits } from '../auth/sign-in-limits.js';
import { RegistryError } from '../oci/errors.js';
import { auditCredentials } from './audit.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Shared by every place that checks a password or key, so no form escapes the limits. */
    signInLimits: SignInLimits;
  }
}

/**
 * Runs `check` for `account` (the user name tried, '' when none could be read) from the request's
 * address under the limits; a blocked attempt is counted and audited here.
 */
export async function limitedCheck<T>(request: FastifyRequest, account: string, check: () => Promise<{ accepted: boolean; result: T }>): Promise<SignInAttempt<T>> {
  const attempt = await request.server.signInLimits.attempt(request.ip, account, check);
  if (attempt.kind === 'blocked') {
    request.server.metrics.signInBlocked.inc({ scope: attempt.scope });
    auditCredentials(request, { outcome: 'blocked', ...(account !== '' ? { attemptedUser: account } : {}), reason: attempt.reason });
    request.log.info({ scope: attempt.scope, retryAfterSeconds: attempt.retryAfterSeconds }, 'sign-in attempt blocked');
  }
  return attempt;
}

/** The 429 for a blocked attempt, with Retry-After: when its window ends. */
export function blockedError(reply: FastifyReply, attempt: Extract<SignInAttempt<unknown>, { kind: 'blocked' }>): RegistryError {
  reply.header('retry-after', String(attempt.retryAfterSeconds));
  return new RegistryError('TOOMANYREQUESTS', { reason: attempt.reason, retryAfterSeconds: attempt.retryAfterSeconds });
}
