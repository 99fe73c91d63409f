import { describe, expect, it } from 'vitest';
import { AccessPolicy, ANONYMOUS, type Action, type Identity } from '../../../src/access/policy.js';
import type { AccessControlConfig } from '../../../src/config/config.js';

const user = (username: string, ...groups: string[]): Identity => ({ username, groups });

/** zot's own example (examples/config-policy.json shape) plus nested team patterns. */
const CONFIG: AccessControlConfig = {
  groups: { group1: { users: ['jack', 'john'] }, admins: { users: ['root'] } },
  repositories: {
    '**': {
      policies: [{ users: ['charlie'], groups: ['group1'], actions: ['read', 'create', 'update'] }],
      defaultPolicy: ['read', 'create'],
      anonymousPolicy: ['read'],
    },
    'tmp/**': { defaultPolicy: ['read', 'create', 'update'] },
    'infra/*': { policies: [{ users: ['alice', 'bob'], actions: ['create', 'read', 'update', 'delete'] }], defaultPolicy: ['read'] },
    'team/**': { policies: [{ groups: ['team'], actions: ['read', 'create'] }] },
    'team/*': { policies: [{ groups: ['team-leads'], actions: ['read', 'create', 'update', 'delete', 'detectManifestCollision'] }] },
    'secret/**': { policies: [{ users: ['spy'], actions: ['read'] }] },
    'lead/*': { policies: [{ groups: ['team-leads'], actions: ['read', 'detectManifestCollision'] }] },
  },
  adminPolicy: { users: ['admin'], groups: ['admins'], actions: ['read', 'create', 'update', 'delete'] },
};

const policy = AccessPolicy.compile(CONFIG, true);

describe('AccessPolicy with accessControl', () => {
  const cases: Array<[string, Identity, Action, string, boolean]> = [
    // ** : user, group, default, anonymous
    ['a user policy grants', user('charlie'), 'update', 'library/alpine', true],
    ['a group policy grants (groups from the identity)', user('someone', 'group1'), 'update', 'library/alpine', true],
    ['defaultPolicy covers any signed-in user', user('nobody'), 'create', 'library/alpine', true],
    ['defaultPolicy does not give update', user('nobody'), 'update', 'library/alpine', false],
    ['anonymousPolicy gives anonymous read', ANONYMOUS, 'read', 'library/alpine', true],
    ['anonymousPolicy gives no more than it lists', ANONYMOUS, 'create', 'library/alpine', false],
    // the longest matching pattern is the only one evaluated
    ['tmp/** wins over ** for tmp repos', user('nobody'), 'update', 'tmp/x/y', true],
    ['tmp/** has no anonymousPolicy, so ** does not apply', ANONYMOUS, 'read', 'tmp/x', false],
    ['infra/* grants its users delete', user('alice'), 'delete', 'infra/app', true],
    ['infra/* defaultPolicy is read only', user('charlie'), 'create', 'infra/app', false],
    ['infra/* matches one segment only, deeper falls back to **', user('charlie'), 'create', 'infra/app/sub', true],
    // zot compares pattern *strings* by length: team/** (8) beats team/* (7) even on team/x, so a
    // team/* entry next to team/** never decides anything.
    ['team/** decides team/x over the shorter team/*', user('member', 'team'), 'create', 'team/x', true],
    ['team/* is shadowed: team-leads get nothing on team/x', user('lead', 'team-leads'), 'read', 'team/x', false],
    ['team/** decides team/x/y', user('member', 'team'), 'create', 'team/x/y', true],
    ['team/** gives no delete', user('member', 'team'), 'delete', 'team/x/y', false],
    ['infra/* (7) beats ** (2) on infra/app', user('nobody'), 'create', 'infra/app', false],
    ['a pattern with no defaultPolicy denies other users', user('nobody'), 'read', 'secret/plans', false],
    ['… and anonymous', ANONYMOUS, 'read', 'secret/plans', false],
    ['… but grants its named user', user('spy'), 'read', 'secret/plans', true],
    // adminPolicy applies everywhere, after the pattern
    ['adminPolicy user', user('admin'), 'delete', 'secret/plans', true],
    ['adminPolicy group', user('x', 'admins'), 'delete', 'infra/app', true],
    ['adminPolicy only gives its actions', user('admin'), 'detectManifestCollision', 'infra/app', false],
    // detectManifestCollision only by explicit grant
    ['detectManifestCollision when granted', user('lead', 'team-leads'), 'detectManifestCollision', 'lead/x', true],
    ['detectManifestCollision not implied', user('charlie'), 'detectManifestCollision', 'library/alpine', false],
  ];
  it.each(cases)('%s', (_why, identity, action, repository, allowed) => {
    expect(policy.can(identity, action, repository)).toBe(allowed);
  });

  it('gives htpasswd users the groups accessControl.groups lists', () => {
    expect(policy.groupsOf('jack')).toEqual(['group1']);
    expect(policy.groupsOf('root')).toEqual(['admins']);
    expect(policy.groupsOf('stranger')).toEqual([]);
  });

  it('names the governing pattern, longest first', () => {
    expect(policy.governingPattern('team/x')).toBe('team/**');
    expect(policy.governingPattern('infra/app')).toBe('infra/*');
    expect(policy.governingPattern('team/x/y')).toBe('team/**');
    expect(policy.governingPattern('a')).toBe('**');
  });

  it('lets anonymous callers in somewhere when any anonymousPolicy exists', () => {
    expect(policy.anonymousAllowedSomewhere).toBe(true);
    expect(AccessPolicy.compile({ repositories: { '**': { defaultPolicy: ['read'] } } }, true).anonymousAllowedSomewhere).toBe(false);
  });

  it('denies everything when no pattern matches and the caller is not admin', () => {
    const narrow = AccessPolicy.compile({ repositories: { 'only/*': { defaultPolicy: ['read'] } } }, true);
    expect(narrow.can(user('x'), 'read', 'elsewhere')).toBe(false);
    expect(narrow.can(user('x'), 'read', 'only/this')).toBe(true);
  });

  it('breaks a tie between equally long patterns by name, not by key order', () => {
    const a = AccessPolicy.compile({ repositories: { 'a/*': { defaultPolicy: ['read'] }, '*/b': { defaultPolicy: [] } } }, true);
    const b = AccessPolicy.compile({ repositories: { '*/b': { defaultPolicy: [] }, 'a/*': { defaultPolicy: ['read'] } } }, true);
    expect(a.can(user('x'), 'read', 'a/b')).toBe(b.can(user('x'), 'read', 'a/b'));
  });
});

describe('AccessPolicy without accessControl', () => {
  it('lets any signed-in identity do everything, and anonymous nothing, when auth is configured', () => {
    const closed = AccessPolicy.compile(undefined, true);
    for (const action of ['read', 'create', 'update', 'delete'] as const) {
      expect(closed.can(user('x'), action, 'any/repo')).toBe(true);
      expect(closed.can(ANONYMOUS, action, 'any/repo')).toBe(false);
    }
    expect(closed.anonymousAllowedSomewhere).toBe(false);
  });

  it('limits anonymous callers to anonymousPolicy when that is all there is', () => {
    const publicRegistry = AccessPolicy.compile({ repositories: { '**': { anonymousPolicy: ['read'] } } }, false);
    expect(publicRegistry.open).toBe(false);
    expect(publicRegistry.can(ANONYMOUS, 'read', 'a')).toBe(true);
    expect(publicRegistry.can(ANONYMOUS, 'create', 'a')).toBe(false);
  });

  it('is open when no authentication is configured', () => {
    const open = AccessPolicy.compile(undefined, false);
    expect(open.can(ANONYMOUS, 'delete', 'any')).toBe(true);
    expect(open.anonymousAllowedSomewhere).toBe(true);
    expect(open.can(ANONYMOUS, 'detectManifestCollision', 'any')).toBe(false);
  });
});

describe('per-user namespaces (zot ${username} patterns)', () => {
  const namespaces = AccessPolicy.compile(
    {
      repositories: {
        '**': { defaultPolicy: ['read'] },
        '${username}/**': { policies: [{ groups: ['users'], actions: ['read', 'create', 'update'] }], defaultPolicy: ['read', 'create'] },
        'alice/locked/**': { defaultPolicy: ['read'] },
      },
    },
    true,
  );
  it('gives each signed-in user their own namespace and nobody else’s', () => {
    expect(namespaces.can(user('alice'), 'create', 'alice/app')).toBe(true);
    expect(namespaces.can(user('alice', 'users'), 'update', 'alice/app')).toBe(true);
    expect(namespaces.can(user('bob'), 'create', 'alice/app')).toBe(false);
    expect(namespaces.can(user('bob'), 'read', 'alice/app')).toBe(true);
    expect(namespaces.can(ANONYMOUS, 'read', 'alice/app')).toBe(false);
  });
  it('lets a longer pattern still win, and ignores names that are not one path component', () => {
    expect(namespaces.can(user('alice'), 'create', 'alice/locked/x')).toBe(false);
    expect(namespaces.can(user('a/b'), 'create', 'a/b/app')).toBe(false);
    expect(namespaces.can(user('*'), 'create', 'anything/app')).toBe(false);
    expect(namespaces.can(user('alice@example.org'), 'create', 'alice@example.org/app')).toBe(false);
  });
});
