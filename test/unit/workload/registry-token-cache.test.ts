/**
 * Registry tokens are verified once and then remembered until their `exp` (src/workload/registry-tokens.ts):
 * the remembered verdict is only for the same token and the same service, and a token signed under
 * another key is checked, not taken from memory.
 */
import { describe, expect, it } from 'vitest';
import { LocalCoordination } from '../../../src/coordination/local-coordination.js';
import { RegistryTokens } from '../../../src/workload/registry-tokens.js';

const SERVICE = 'registry.example';
const ROBOT = Object.freeze({ username: 'robot', groups: Object.freeze(['ci']), method: 'htpasswd' as const, provider: 'htpasswd' });
const ACCESS = [{ type: 'repository' as const, name: 'ci/app', actions: ['pull' as const] }];

describe('RegistryTokens verification cache', () => {
  it('answers the same token for the same service from memory, and checks every other case', async () => {
    const tokens = new RegistryTokens(new LocalCoordination());
    const { token } = await tokens.issue(ROBOT, ACCESS, SERVICE);
    const first = await tokens.verify(token, SERVICE);
    expect(first).toMatchObject({ ok: true, identity: { username: 'robot', groups: ['ci'] } });
    expect(await tokens.verify(token, SERVICE)).toBe(first);
    // The same token presented for another service is refused, though it was remembered for the first.
    expect(await tokens.verify(token, 'elsewhere.example')).toMatchObject({ ok: false, reason: expect.stringContaining('aud') });
    // A token of another Berth (another key) is checked against this one's key and refused.
    const other = await new RegistryTokens(new LocalCoordination()).issue(ROBOT, ACCESS, SERVICE);
    expect(await tokens.verify(other.token, SERVICE)).toMatchObject({ ok: false, reason: 'registry token: the signature does not verify' });
    // A changed byte is another token: checked, refused.
    const tampered = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    expect((await tokens.verify(tampered, SERVICE)).ok).toBe(false);
  });
});
