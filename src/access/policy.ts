/**
 * zot's `http.accessControl`, compiled once per config: `can(identity, action, repository)`.
 *
 * Semantics (zot pkg/api/authz.go, and ../shared/reference/zot.md §3):
 * - Of the repository patterns (doublestar globs) that match, only the longest pattern string is
 *   evaluated; ties go to the lexically first, so the choice never depends on key order.
 * - Inside it, a grant from a user policy, a group policy, `defaultPolicy` (any authenticated
 *   identity) or `anonymousPolicy` (anonymous requests only) allows the action.
 * - Otherwise `adminPolicy` is checked; no match and not admin: denied.
 * - With no accessControl at all, an authenticated identity may do everything; anonymous callers may
 *   only when no authentication is configured either (an open registry). accessControl with only
 *   anonymous rules and no authentication is a public registry limited to those rules.
 */
import type { AccessControlConfig, PolicyConfig } from '../config/config.js';
import { compileRepositoryGlob } from '../config/repository-glob.js';
import { isValidName } from '../oci/names.js';

import { explainAccess, type AccessExplanation } from './explain.js';
import { ACTIONS, ANONYMOUS, type Action, type Identity } from './identity.js';

export { ACTIONS, ANONYMOUS, type Action, type Identity } from './identity.js';

/** zot's placeholder for the caller's user name in repository patterns. */
const USERNAME_PLACEHOLDER = '${username}';

export type { AccessControlConfig, PolicyConfig };

interface CompiledGrant {
  users: ReadonlySet<string>;
  groups: ReadonlySet<string>;
  actions: ReadonlySet<string>;
}

interface CompiledPattern {
  pattern: string;
  /** Whether `pattern` holds zot's `${username}` placeholder, filled per caller. */
  perUser: boolean;
  /** For a per-user pattern, matches nothing: see `governing`. */
  matches: (repository: string) => boolean;
  grants: CompiledGrant[];
  defaultActions: ReadonlySet<string>;
  anonymousActions: ReadonlySet<string>;
}

function grant(policy: PolicyConfig | undefined): CompiledGrant {
  return { users: new Set(policy?.users ?? []), groups: new Set(policy?.groups ?? []), actions: new Set(policy?.actions ?? []) };
}

function holds(compiled: CompiledGrant, identity: Identity, action: string): boolean {
  if (identity.username === undefined || !compiled.actions.has(action)) return false;
  return compiled.users.has(identity.username) || identity.groups.some((group) => compiled.groups.has(group));
}

export class AccessPolicy {
  private readonly patterns: CompiledPattern[];
  private readonly admin: CompiledGrant;

  /** Whether `adminPolicy` grants `identity` anything (the UI shows admins the registry's settings). */
  isAdmin(identity: Identity): boolean {
    return ACTIONS.some((action) => holds(this.admin, identity, action));
  }
  private readonly memberships: ReadonlyMap<string, string[]>;

  private constructor(
    private readonly config: AccessControlConfig | undefined,
    private readonly authenticationConfigured: boolean,
  ) {
    this.patterns = Object.entries(config?.repositories ?? {})
      .map(([pattern, rules]) => ({
        pattern,
        perUser: pattern.includes(USERNAME_PLACEHOLDER),
        matches: pattern.includes(USERNAME_PLACEHOLDER) ? () => false : compileRepositoryGlob(pattern),
        grants: (rules.policies ?? []).map(grant),
        defaultActions: new Set(rules.defaultPolicy ?? []),
        anonymousActions: new Set(rules.anonymousPolicy ?? []),
      }))
      .sort((a, b) => b.pattern.length - a.pattern.length || (a.pattern < b.pattern ? -1 : 1));
    this.admin = grant(config?.adminPolicy);
    const memberships = new Map<string, string[]>();
    for (const [group, { users = [] }] of Object.entries(config?.groups ?? {})) {
      for (const user of users) memberships.set(user, [...(memberships.get(user) ?? []), group]);
    }
    this.memberships = memberships;
  }

  static compile(config: AccessControlConfig | undefined, authenticationConfigured: boolean): AccessPolicy {
    return new AccessPolicy(config, authenticationConfigured);
  }

  /** Whether every caller may do everything: no authentication and no accessControl configured. */
  get open(): boolean {
    return !this.authenticationConfigured && this.config === undefined;
  }

  /** Groups that `accessControl.groups` gives a user (for identities without groups of their own). */
  groupsOf(username: string): string[] {
    return this.memberships.get(username) ?? [];
  }

  /** Whether an anonymous caller may do anything anywhere: decides `GET /v2/` (zot's rule). */
  get anonymousAllowedSomewhere(): boolean {
    if (this.open) return true;
    return this.patterns.some((pattern) => pattern.anonymousActions.size > 0);
  }

  /** The pattern whose rules decide `repository` for `identity`, if any matches. */
  governingPattern(repository: string, identity: Identity = ANONYMOUS): string | undefined {
    return this.governing(repository, identity)?.pattern;
  }

  /**
   * The matching pattern with the longest pattern string. zot's `${username}` patterns
   * (`${username}/**`: everyone's own namespace) count with the caller's name filled in, and only
   * for a name that is a valid single path component: nobody can widen a pattern by their name.
   */
  private governing(repository: string, identity: Identity): CompiledPattern | undefined {
    let best: { pattern: CompiledPattern; length: number } | undefined;
    for (const candidate of this.patterns) {
      let length = candidate.pattern.length;
      if (candidate.perUser) {
        const username = identity.username;
        if (username === undefined || !isValidName(username) || username.includes('/')) continue;
        const filled = candidate.pattern.replaceAll(USERNAME_PLACEHOLDER, username);
        if (!this.userMatcher(filled)(repository)) continue;
        length = filled.length;
      } else if (!candidate.matches(repository)) {
        continue;
      }
      if (!best || length > best.length || (length === best.length && candidate.pattern < best.pattern.pattern)) best = { pattern: candidate, length };
    }
    return best?.pattern;
  }

  private readonly userMatchers = new Map<string, (repository: string) => boolean>();

  private userMatcher(pattern: string): (repository: string) => boolean {
    let matcher = this.userMatchers.get(pattern);
    if (!matcher) {
      if (this.userMatchers.size > 10_000) this.userMatchers.clear();
      matcher = compileRepositoryGlob(pattern);
      this.userMatchers.set(pattern, matcher);
    }
    return matcher;
  }

  /** The rules that grant `identity` something, for people to read (the UI's account page). */
  explain(identity: Identity): AccessExplanation {
    if (this.open) return explainAccess(undefined, false, identity);
    return explainAccess(this.config, this.authenticationConfigured, identity);
  }

  /**
   * zot's `accessControl.metrics`: its users (and admins) may scrape, anonymous callers when its
   * anonymousPolicy has `read`. Without that section: any signed-in caller when there is no
   * accessControl, only admins when there is one (metrics name every repository).
   */
  canReadMetrics(identity: Identity): boolean {
    if (this.open) return true;
    const metrics = this.config?.metrics;
    if (identity.username === undefined) return metrics?.anonymousPolicy?.includes('read') ?? false;
    if (!this.config) return true;
    return (metrics?.users ?? []).includes(identity.username) || holds(this.admin, identity, 'read');
  }

  /**
   * Whether `can(identity, 'read', name)` holds for every name, whatever the repositories: an open
   * registry, any signed-in caller without accessControl, an admin with read. Lets a listing skip
   * asking per repository (false when only the patterns would allow everything: then it asks).
   */
  readsEverything(identity: Identity): boolean {
    if (this.open) return true;
    if (!this.config) return identity.username !== undefined;
    return holds(this.admin, identity, 'read');
  }

  can(identity: Identity, action: Action, repository: string): boolean {
    const authenticated = identity.username !== undefined;
    // detectManifestCollision changes behaviour rather than granting: only an explicit grant holds it.
    if (action !== 'detectManifestCollision') {
      if (this.open) return true;
      if (!this.config) return authenticated;
    }
    const governing = this.governing(repository, identity);
    if (governing) {
      if (governing.grants.some((compiled) => holds(compiled, identity, action))) return true;
      if (authenticated && governing.defaultActions.has(action)) return true;
      if (!authenticated && governing.anonymousActions.has(action)) return true;
    }
    return holds(this.admin, identity, action);
  }
}
