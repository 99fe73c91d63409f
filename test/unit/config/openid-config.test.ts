/**
 * `http.auth.openid` providers: Berth's own `allowHttpEndpoints` key (off unless true, any
 * spelling zot's viper would accept) and the warning for a groups claim without the groups scope.
 */
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/load-config.js';

function provider(extra: Record<string, unknown>) {
  const config = buildConfig({
    storage: { rootDirectory: '/x' },
    http: { auth: { openid: { providers: { oidc: { issuer: 'https://id.example.org', clientid: 'berth', scopes: ['openid', 'profile', 'groups'], ...extra } } } } },
  }, 'f.json');
  return { provider: config.http.auth.openid!.providers[0]!, warnings: config.warnings };
}

describe('openid providers', () => {
  it('keep http endpoints refused unless allowHttpEndpoints is true', () => {
    expect(provider({}).provider.allowHttpEndpoints).toBe(false);
    expect(provider({ allowHttpEndpoints: false }).provider.allowHttpEndpoints).toBe(false);
    expect(provider({ allowHttpEndpoints: true }).provider.allowHttpEndpoints).toBe(true);
    expect(provider({ ALLOWHTTPENDPOINTS: true }).provider.allowHttpEndpoints).toBe(true);
    expect(() => provider({ allowHttpEndpoints: 'yes' })).toThrow(/allowHttpEndpoints/);
  });

  it('warn when claimMapping.groups is set but the groups scope is not requested', () => {
    expect(provider({ claimMapping: { groups: 'groups' } }).warnings).toEqual([]);
    const { warnings } = provider({ scopes: ['openid', 'profile', 'email'], claimMapping: { username: 'preferred_username', groups: 'groups' } });
    expect(warnings).toEqual([expect.stringMatching(/^f\.json: \/http\/auth\/openid\/providers\/oidc\/scopes: claimMapping\.groups names the "groups" claim but the "groups" scope is not requested/)]);
    // Without an explicit mapping, another provider may well send groups under other scopes.
    expect(provider({ scopes: ['openid', 'profile'] }).warnings).toEqual([]);
  });
});
