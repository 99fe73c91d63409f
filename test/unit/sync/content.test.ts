/**
 * zot's content rules, with the cases of zot's own content_test.go: local ↔ upstream names through
 * prefix, destination and stripPrefix, which rule a local name picks, and the tag filters.
 */
import { describe, expect, it } from 'vitest';
import type { SyncContentRule } from '../../../src/config/config.js';
import { compileRepositoryGlob } from '../../../src/config/repository-glob.js';
import { localNameOf, tagWanted, upstreamNameOf } from '../../../src/sync/content.js';

function rule(prefix: string, destination = '', stripPrefix = false, tags: Partial<SyncContentRule['tags']> = {}): SyncContentRule {
  const glob = prefix.replace(/^\/+/, '');
  return { prefix: glob, matches: compileRepositoryGlob(glob), destination: destination.replace(/^\/+|\/+$/g, ''), stripPrefix, tags: { semver: false, ...tags } };
}

describe('sync content rules', () => {
  // zot's TestContentManager: [local, rule, upstream]; each way round.
  const cases: Array<[string, SyncContentRule, string]> = [
    ['alpine/zot-fold/alpine', rule('zot-fold/alpine', '/alpine'), 'zot-fold/alpine'],
    ['zot-fold/alpine', rule('zot-fold/alpine', '/'), 'zot-fold/alpine'],
    ['alpine', rule('zot-fold/alpine', '/alpine', true), 'zot-fold/alpine'],
    ['alpine', rule('zot-fold/*', '/', true), 'zot-fold/alpine'],
    ['alpine', rule('zot-fold/**', '/', true), 'zot-fold/alpine'],
    ['zot-fold/alpine', rule('zot-fold/**', '/'), 'zot-fold/alpine'],
    ['mirror/a/b', rule('/repo3/**', '/mirror', true), 'repo3/a/b'],
  ];
  it.each(cases)('local %s ↔ upstream (case %#)', (local, item, upstream) => {
    expect(localNameOf([item], upstream)?.name).toBe(local);
    expect(upstreamNameOf([item], local)?.name).toBe(upstream);
  });

  it('maps nothing a rule does not name, and every name to itself without rules', () => {
    expect(upstreamNameOf([rule('repo', '/mirror')], 'other')).toBeUndefined();
    expect(localNameOf([rule('repo')], 'other')).toBeUndefined();
    expect(upstreamNameOf([], 'library/alpine')?.name).toBe('library/alpine');
    expect(localNameOf([], 'library/alpine')?.name).toBe('library/alpine');
    // Braces and other glob forms mean on the local side what they mean on the upstream side.
    expect(upstreamNameOf([rule('{alpine,busybox}')], 'alpine')?.name).toBe('alpine');
    expect(upstreamNameOf([rule('{alpine,busybox}')], 'debian')).toBeUndefined();
    // A destination does not open upstream names outside the rule's prefix.
    expect(upstreamNameOf([rule('zot-fold/alpine', '/alpine')], 'alpine/secret/thing')).toBeUndefined();
  });

  // zot's TestGetContentByLocalRepo: which rule (by index) a local name picks; -1 none.
  const picks: Array<[string, SyncContentRule[], number]> = [
    ['alpine/zot-fold/alpine', [rule('zot-fold/alpine/', '/alpine', true), rule('zot-fold/alpine', '/alpine')], 1],
    ['alpine/zot-fold/alpine', [rule('zot-fold/*', '/alpine'), rule('zot-fold/alpine', '/alpine', true)], 0],
    ['myFold/zot-fold/internal/alpine', [rule('zot-fold/alpine', '/alpine', true), rule('zot-fold/**', '/myFold')], 1],
    ['alpine', [rule('zot-fold/*', '/alpine', true), rule('zot-fold/alpine', '/', true)], -1],
    ['alpine', [rule('zot-fold/*', '/alpine', true), rule('zot-fold/*', '/', true)], 1],
    ['alpine/alpine', [rule('zot-fold/*', '/alpine', true), rule('zot-fold/*', '/', true)], 0],
  ];
  it.each(picks)('local %s picks rule %#', (local, rules, expected) => {
    const found = upstreamNameOf(rules, local);
    expect(found?.rule === undefined ? -1 : rules.indexOf(found.rule)).toBe(expected);
  });

  it('filters tags by regex, then excludeRegex, then semver (zot order, unanchored like Go)', () => {
    const tags = ['1.5.0', 'v1.5.0-amd64', '1.5.0-x86_64', 'latest', 'v2', '2.1', 'v1.2.3-rc.1+build.5', 'release-1'];
    // `1.5.0-x86_64` is no semver: a pre-release holds [0-9A-Za-z-] only.
    const pick = (item: SyncContentRule) => tags.filter((tag) => tagWanted(item, tag));
    expect(pick(rule('r', '', false, { regex: /1.5.0/ }))).toEqual(['1.5.0', 'v1.5.0-amd64', '1.5.0-x86_64']);
    expect(pick(rule('r', '', false, { excludeRegex: /.*(x86_64|aarch64|amd64|arm64)$/ }))).toEqual(['1.5.0', 'latest', 'v2', '2.1', 'v1.2.3-rc.1+build.5', 'release-1']);
    expect(pick(rule('r', '', false, { semver: true }))).toEqual(['1.5.0', 'v1.5.0-amd64', 'v2', '2.1', 'v1.2.3-rc.1+build.5']);
    expect(pick(rule('r', '', false, { regex: /^v/, excludeRegex: /amd64/, semver: true }))).toEqual(['v2', 'v1.2.3-rc.1+build.5']);
    expect(tagWanted(undefined, 'anything')).toBe(true);
  });
});
