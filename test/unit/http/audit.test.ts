import Fastify, { type FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { auditFacts, requireAuditedWrites } from '../../../src/http/audit.js';
import { DECLARED_PREFIXES } from '../../../src/http/access.js';

describe('audited writes', () => {
  it('refuses a route that changes state but declares no audit event; reads need none', async () => {
    const app = Fastify();
    requireAuditedWrites(app, DECLARED_PREFIXES);
    expect(() => app.delete('/v2/:name/things/:id', async () => 'x')).toThrow(/declares no audit event/);
    expect(() => app.post('/account/something', async () => 'x')).toThrow(/declares no audit event/);
    app.delete('/v2/:name/audited/:id', { config: { audit: 'thing-delete' } }, async () => 'x');
    app.get('/v2/:name/things', async () => 'x');
    app.post('/elsewhere', async () => 'x');
    await app.ready();
    await app.close();
  });

  it('keeps the first outcome and reason given, and adds every other fact', () => {
    const request = {} as FastifyRequest;
    auditFacts(request, { repository: 'a/b', reason: 'replay' });
    auditFacts(request, { event: 'sign-in', outcome: 'refused', reason: 'expired', provider: 'oidc' });
    auditFacts(request, { outcome: 'failed', reason: 'UNAUTHORIZED', tag: 'v1' });
    expect(request.audit).toEqual({ event: 'sign-in', repository: 'a/b', tag: 'v1', provider: 'oidc', outcome: 'refused', reason: 'replay' });
  });
});
