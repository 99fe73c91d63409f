import { describe, expect, it } from 'vitest';
import { AccessPolicy, ANONYMOUS, type Identity } from '../../../src/access/policy.js';

const person = (username: string, groups: string[] = []): Identity => ({ username, groups, method: 'session' });

describe('explaining access rules', () => {
  const policy = AccessPolicy.compile(
    {
      repositories: {
        '**': { policies: [{ groups: ['users'], actions: ['read'] }], defaultPolicy: ['read'], anonymousPolicy: ['read'] },
        'team/**': {
          policies: [
            { users: ['bob'], actions: ['read', 'create', 'detectManifestCollision'] },
            { groups: ['devs'], actions: ['create', 'read'] },
          ],
        },
        'secret/**': { policies: [{ groups: ['vault'], actions: ['read'] }] },
      },
      adminPolicy: { groups: ['admins'], users: ['root'], actions: ['delete', 'read'] },
    },
    true,
  );

  it('lists each grant with its reasons, most specific pattern first, and the admin grant last', () => {
    expect(policy.explain(person('bob', ['users', 'devs', 'admins']))).toEqual({
      mode: 'rules',
      grants: [
        { pattern: 'team/**', actions: ['read', 'create', 'detectManifestCollision'], reasons: [{ kind: 'user' }, { kind: 'group', group: 'devs' }] },
        { pattern: '**', actions: ['read'], reasons: [{ kind: 'group', group: 'users' }, { kind: 'signedIn' }] },
        { actions: ['read', 'delete'], reasons: [{ kind: 'group', group: 'admins' }] },
      ],
      narrowed: true,
    });
  });

  it('never names a pattern that grants the person nothing', () => {
    const explained = policy.explain(person('eve'));
    expect(explained.grants).toEqual([{ pattern: '**', actions: ['read'], reasons: [{ kind: 'signedIn' }] }]);
    expect(JSON.stringify(explained)).not.toContain('secret');
    expect(explained.narrowed).toBe(true);
  });

  it('explains guests by the anonymous policy, and registries without rules by their mode', () => {
    expect(policy.explain(ANONYMOUS).grants).toEqual([{ pattern: '**', actions: ['read'], reasons: [{ kind: 'anonymous' }] }]);
    expect(AccessPolicy.compile(undefined, true).explain(person('x')).mode).toBe('signedIn');
    expect(AccessPolicy.compile(undefined, false).explain(ANONYMOUS).mode).toBe('open');
  });
});
