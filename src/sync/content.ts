/**
 * Which upstream repository a local one mirrors, and back, by zot's `content` rules
 * (pkg/extensions/sync/content.go): a rule's `prefix` is a glob on UPSTREAM names; `destination`
 * puts the matches under a local folder, and `stripPrefix` drops the prefix's literal part first.
 * With no rules, every repository mirrors the upstream repository of the same name. The first
 * rule that matches wins, as in zot. Tag filters apply in zot's order: regex, excludeRegex, semver.
 */
import type { SyncContentRule, SyncRegistryConfig } from '../config/config.js';
import { DOCKER_HUB_HOSTS } from '../config/sync-config.js';
import { compileRepositoryGlob, type RepositoryMatcher } from '../config/repository-glob.js';

/** Masterminds/semver's (v1, which zot uses) loose form: `v1`, `1.2`, `1.2.3-rc.1+build`. */
const SEMVER = /^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*))?(\+([0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*))?$/;

/**
 * doublestar's SplitPattern: the literal folder before the first glob character, and the rest.
 * zot appends `/` to the prefix first, so a literal prefix is all base.
 */
function splitPattern(pattern: string): { base: string; rest: string } {
  let split = -1;
  for (let at = 0; at < pattern.length; at++) {
    const char = pattern[at];
    if (char === '\\') at++;
    else if (char === '/') split = at;
    else if (char === '*' || char === '?' || char === '[' || char === '{') break;
  }
  if (split === 0) return { base: '/', rest: pattern.slice(1) };
  if (split > 0) return { base: pattern.slice(0, split), rest: pattern.slice(split + 1) };
  return { base: '.', rest: pattern };
}

const trimSlashes = (text: string) => text.replace(/^\/+|\/+$/g, '');
/** Go's strings.Trim(prefix, "/*"): what zot takes as the prefix's literal part. */
const literalOf = (prefix: string) => prefix.replace(/^[/*]+|[/*]+$/g, '');
const join = (...parts: string[]) => trimSlashes(parts.filter((part) => part !== '').join('/'));

/** Compiled local-name patterns per rule, made once per rule list. */
const localPatterns = new WeakMap<SyncContentRule, RepositoryMatcher>();

/** The glob of local names a rule serves (zot's GetContentByLocalRepo), compiled as the rule's own prefix is. */
function localPattern(rule: SyncContentRule): RepositoryMatcher {
  let pattern = localPatterns.get(rule);
  if (!pattern) {
    const prefix = `${trimSlashes(rule.prefix)}/`;
    const glob = join(rule.destination, rule.stripPrefix ? splitPattern(prefix).rest : prefix);
    // A literal prefix stripped into the root names no local repository (zot's empty pattern matches nothing).
    pattern = glob === '' ? () => false : compileRepositoryGlob(glob);
    localPatterns.set(rule, pattern);
  }
  return pattern;
}

/** The local repository an upstream one goes to, or undefined when no rule takes it (periodic sync). */
export function localNameOf(rules: readonly SyncContentRule[], upstream: string): { name: string; rule?: SyncContentRule } | undefined {
  if (rules.length === 0) return { name: upstream };
  const rule = rules.find((item) => item.matches(upstream));
  if (!rule) return undefined;
  const remote = trimSlashes(upstream);
  const name = rule.stripPrefix
    ? join(rule.destination, trimSlashes(remote.startsWith(literalOf(rule.prefix)) ? remote.slice(literalOf(rule.prefix).length) : remote))
    : join(rule.destination, remote);
  return { name, rule };
}

/**
 * The upstream repository a local one mirrors (on demand), or undefined when no rule maps it. The
 * answer must also match its rule's prefix: a destination never reaches upstream names the rule
 * does not name.
 */
export function upstreamNameOf(rules: readonly SyncContentRule[], local: string): { name: string; rule?: SyncContentRule } | undefined {
  if (rules.length === 0) return { name: local };
  const wanted = trimSlashes(local);
  for (const rule of rules) {
    if (!localPattern(rule)(wanted)) continue;
    const rest = trimSlashes(rule.destination && wanted.startsWith(rule.destination) ? wanted.slice(rule.destination.length) : wanted);
    const name = rule.stripPrefix ? join(literalOf(rule.prefix), rest) : rest;
    if (name !== '' && rule.matches(name)) return { name, rule };
  }
  return undefined;
}

/** Whether a tag passes its rule's filters (no rule: every tag). */
export function tagWanted(rule: SyncContentRule | undefined, tag: string): boolean {
  if (!rule) return true;
  const { regex, excludeRegex, semver } = rule.tags;
  if (regex && !regex.test(tag)) return false;
  if (excludeRegex && excludeRegex.test(tag)) return false;
  if (semver && !SEMVER.test(tag)) return false;
  return true;
}

/** Whether an upstream is the registry containerd names in `?ns=` (Docker Hub by any of its names). */
export function servesNamespace(config: SyncRegistryConfig, namespace: string): boolean {
  const wanted = namespace.toLowerCase();
  return config.urls.some((url) => {
    const host = new URL(url).host.toLowerCase();
    return host === wanted || (DOCKER_HUB_HOSTS.includes(host) && DOCKER_HUB_HOSTS.includes(wanted));
  });
}
