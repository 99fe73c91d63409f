/**
 * zot's token endpoint, `/zot/auth/token` (the realm of the Bearer challenge when http.auth.bearer
 * is configured), in Docker's token flow (distribution's token spec; its OAuth2 POST variant for
 * containerd and docker's `grant_type=password|refresh_token`). The caller proves who it is with
 * Basic credentials whose password is an ID token of a configured issuer, an htpasswd password or an
 * API key, or with the form fields zot reads (`password`, `id_token`, `access_token`,
 * `refresh_token`, `token`); nothing proves the anonymous caller. The answer is a registry token
 * (src/workload/registry-tokens.ts) for the scopes asked for AND allowed to the caller by
 * accessControl, in both spellings clients read: `{token, access_token, expires_in, issued_at}`.
 *
 * Credentials are checked by the access hook (header) or `authenticateForm` (body): the same sign-in
 * limits, failDelay and audit lines as any password. Each request gets one `token` audit line: who,
 * the outcome, and on refusal which check failed; never the token or the credential.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../../oci/errors.js';
import { grantScopes, parseScopes } from '../../workload/scopes.js';
import type { WorkloadTokens } from '../../workload/workload-tokens.js';
import { authenticateForm } from '../access.js';
import { auditFacts } from '../audit.js';
import { readBounded } from '../request-body.js';

/** An ID token is a few KB; a form of a few of them is still small. */
const MAX_FORM = 32 * 1024;
/** The fields zot takes a credential from, in the order it looks. */
const SECRET_FIELDS = ['password', 'id_token', 'access_token', 'refresh_token', 'token'];
/** OAuth2 grant types a registry client sends (docker, containerd); others are refused. */
const GRANT_TYPES = new Set(['password', 'refresh_token', 'urn:ietf:params:oauth:grant-type:jwt-bearer']);

export interface TokenRouteOptions {
  tokens: WorkloadTokens;
}

const asList = (value: unknown): string[] => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : typeof value === 'string' ? [value] : []);

export async function tokenRoutes(app: FastifyInstance, { tokens }: TokenRouteOptions): Promise<void> {
  const issue = async (request: FastifyRequest, reply: FastifyReply, fields: Record<string, string[]>) => {
    const security = request.server.security;
    if (!security.bearer) throw new RegistryError('UNSUPPORTED', 'the token endpoint needs http.auth.bearer');
    const requested = parseScopes(fields.scope ?? []);
    if ('error' in requested) throw new RegistryError('BODY_INVALID', requested.error);
    const { identity, can } = request.access;
    const granted = grantScopes(requested, can);
    const service = security.bearer.service ?? fields.service?.[0] ?? request.host;
    const issued = await tokens.issue(identity, granted, service);
    auditFacts(request, { outcome: 'ok', ...(identity.username !== undefined ? { user: identity.username } : {}), ...(granted.length === 1 ? { repository: granted[0]!.name } : {}) });
    return reply.header('cache-control', 'no-store').send({ token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt.toISOString() });
  };

  app.get('/zot/auth/token', { config: { action: 'token', audit: 'token' } }, async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    return issue(request, reply, { scope: asList(query.scope), service: asList(query.service) });
  });

  app.post('/zot/auth/token', { config: { action: 'token', audit: 'token' } }, async (request, reply) => {
    const body = await readBounded(request, MAX_FORM, 'BODY_TOO_LARGE');
    const type = String(request.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase();
    if (body.length > 0 && type !== 'application/x-www-form-urlencoded') throw new RegistryError('BODY_INVALID', 'the token request must be a form (application/x-www-form-urlencoded)');
    const form = new URLSearchParams(body.toString('utf8'));
    const grantType = form.get('grant_type');
    if (grantType !== null && !GRANT_TYPES.has(grantType)) throw new RegistryError('BODY_INVALID', `unsupported grant_type "${grantType.slice(0, 100)}"`);
    const field = SECRET_FIELDS.find((name) => (form.get(name) ?? '') !== '');
    if (field !== undefined && request.headers.authorization === undefined) {
      // containerd sends a username with grant_type=password; an ID token needs none.
      await authenticateForm(request, reply, form.get('username') || 'token', form.get(field)!);
    }
    const query = request.query as Record<string, unknown>;
    return issue(request, reply, { scope: [...asList(query.scope), ...form.getAll('scope')], service: [...form.getAll('service'), ...asList(query.service)] });
  });
}
