/**
 * What the accessControl rules give one identity, as data the account page puts in plain words.
 * It lists only rules that grant the identity something: a pattern that grants nothing may name a
 * repository the person is not meant to know about, so it is never shown (the page says instead
 * that more specific rules can narrow a grant).
 */
import type { AccessControlConfig } from '../config/config.js';
import { ACTIONS, type Action, type Identity } from './identity.js';

/** Why a grant applies: the user is named, one of their groups is, any signed-in user, or guests. */
export type GrantReason = { kind: 'user' } | { kind: 'group'; group: string } | { kind: 'signedIn' } | { kind: 'anonymous' };

export interface GrantExplanation {
  /** A repository glob, or undefined for adminPolicy (every repository). */
  pattern?: string;
  actions: Action[];
  reasons: GrantReason[];
}

export interface AccessExplanation {
  /** `open`: no auth and no rules; `signedIn`: auth but no rules (any signed-in user may do all). */
  mode: 'open' | 'signedIn' | 'rules';
  /** Grants by pattern (most specific first), then the admin grant, when mode is `rules`. */
  grants: GrantExplanation[];
  /** Whether some rule that does not grant anything to this identity might still govern a repository. */
  narrowed: boolean;
}

const byAction = (actions: Iterable<string>): Action[] => ACTIONS.filter((action) => new Set(actions).has(action));

/** Patterns in the order the policy evaluates them: longest first, ties lexically. */
function orderedPatterns(config: AccessControlConfig): string[] {
  return Object.keys(config.repositories ?? {}).sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
}

export function explainAccess(config: AccessControlConfig | undefined, authenticationConfigured: boolean, identity: Identity): AccessExplanation {
  if (!config) return { mode: authenticationConfigured ? 'signedIn' : 'open', grants: [], narrowed: false };
  const signedIn = identity.username !== undefined;
  const grants: GrantExplanation[] = [];
  let narrowed = false;
  for (const pattern of orderedPatterns(config)) {
    const rules = config.repositories![pattern]!;
    const actions = new Set<string>();
    const reasons: GrantReason[] = [];
    const add = (granted: string[] | undefined, reason: GrantReason) => {
      const known = (granted ?? []).filter((action) => (ACTIONS as readonly string[]).includes(action));
      if (known.length === 0) return;
      known.forEach((action) => actions.add(action));
      if (!reasons.some((existing) => JSON.stringify(existing) === JSON.stringify(reason))) reasons.push(reason);
    };
    if (signedIn) {
      for (const policy of rules.policies ?? []) {
        if (policy.users?.includes(identity.username!)) add(policy.actions, { kind: 'user' });
        for (const group of identity.groups) if (policy.groups?.includes(group)) add(policy.actions, { kind: 'group', group });
      }
      add(rules.defaultPolicy, { kind: 'signedIn' });
    } else {
      add(rules.anonymousPolicy, { kind: 'anonymous' });
    }
    if (actions.size > 0) grants.push({ pattern, actions: byAction(actions), reasons });
    else narrowed = true;
  }
  const admin = config.adminPolicy;
  if (signedIn && admin) {
    const reasons: GrantReason[] = [];
    if (admin.users?.includes(identity.username!)) reasons.push({ kind: 'user' });
    for (const group of identity.groups) if (admin.groups?.includes(group)) reasons.push({ kind: 'group', group });
    const actions = byAction(admin.actions ?? []);
    if (reasons.length > 0 && actions.length > 0) grants.push({ actions, reasons });
  }
  return { mode: 'rules', grants, narrowed };
}
