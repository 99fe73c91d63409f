import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { requireDeclaredAccess } from '../../../src/http/access.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildApp } from '../../../src/app.js';
import { buildConfig } from '../../../src/config/load-config.js';

describe('declared access', () => {
  it('refuses a /v2 route that declares no action', async () => {
    const app = Fastify();
    requireDeclaredAccess(app);
    expect(() => app.get('/v2/:name/secret', async () => 'x')).toThrow(/declares no action/);
    app.get('/v2/:name/fine', { config: { action: 'read' } }, async () => 'x');
    app.get('/health', async () => 'ok');
    await app.ready();
    await app.close();
  });

  it('covers the web UI: pages must declare an action, and every page form gets the CSRF check', async () => {
    const app = Fastify();
    requireDeclaredAccess(app);
    expect(() => app.get('/', async () => 'x')).toThrow(/declares no action/);
    expect(() => app.get('/repositories', async () => 'x')).toThrow(/declares no action/);
    app.post('/account/api-keys', { config: { action: 'signedIn', page: true } }, async () => 'x');
    app.post('/login', { config: { action: 'public', page: true } }, async () => 'x');
    app.get('/home-made', async () => 'x');
    await app.ready();
    for (const url of ['/account/api-keys', '/login']) {
      const response = await app.inject({ method: 'POST', url, payload: 'csrf=forged', headers: { 'content-type': 'text/plain' } });
      // No security decorator here: the CSRF preHandler ran before the handler and failed.
      expect(response.statusCode, url).toBe(500);
    }
    await app.close();
  });

  it('is enforced on the real app, so every /v2 route it registered declares one', async () => {
    const app = await buildApp(buildConfig({ storage: { rootDirectory: path.join(tmpdir(), 'berth-unused') } }, 'test.json'), { logger: false });
    try {
      // buildApp registered all its routes under the same check; one more undeclared is refused.
      expect(() => app.get('/v2/:name/undeclared', async () => 'x')).toThrow(/declares no action/);
      app.get('/v2/:name/declared', { config: { action: 'read' } }, async () => 'x');
    } finally {
      await app.close();
    }
  });
});
