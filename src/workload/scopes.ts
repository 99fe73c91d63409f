/**
 * Docker token scopes (distribution's token auth spec, "Requesting a Token" and the resource scope
 * grammar `type[(class)]:name:actions`) and what they mean in Berth's actions. A registry token
 * grants, per repository, only the Docker actions that were asked for AND that accessControl allows
 * the caller at issue time; /v2 checks both the grant and the policy of the moment (access.ts).
 *   pull → read; push → create (and update, the policy deciding at use); delete → delete and
 *   detectManifestCollision; `*` → all three.
 * See https://distribution.github.io/distribution/spec/auth/scope/
 */
import type { Action } from '../access/policy.js';
import type { Grants } from '../auth/bearer-tokens.js';
import { isValidName } from '../oci/names.js';

export type DockerAction = 'pull' | 'push' | 'delete';
const DOCKER_ACTIONS: readonly DockerAction[] = ['pull', 'push', 'delete'];

/** The Berth actions one Docker action grants. */
const MEANS: Record<DockerAction, readonly Action[]> = {
  pull: ['read'],
  push: ['create', 'update'],
  delete: ['delete', 'detectManifestCollision'],
};
/** The Berth action the policy must allow for a Docker action to be granted. */
const NEEDS: Record<DockerAction, Action> = { pull: 'read', push: 'create', delete: 'delete' };

/** At most this many scopes per token request: each costs a policy check and bytes in the token. */
export const MAX_SCOPES = 32;

/** One `repository:<name>:<actions>` scope, as asked for. */
export interface RequestedScope {
  name: string;
  actions: DockerAction[];
}

/**
 * Parses the `scope` parameters (repeatable, each possibly several space-separated scopes, as the
 * OAuth2 form sends them). Scopes of other types (`registry:catalog:*`) and unknown actions are
 * left out, as the spec lets a token service grant less than asked; a malformed name is an error.
 */
export function parseScopes(values: readonly string[]): RequestedScope[] | { error: string } {
  const wanted = new Map<string, Set<DockerAction>>();
  const all = values.flatMap((value) => value.split(' ')).filter((scope) => scope !== '');
  if (all.length > MAX_SCOPES) return { error: `at most ${MAX_SCOPES} scopes per token` };
  for (const scope of all) {
    const first = scope.indexOf(':');
    const last = scope.lastIndexOf(':');
    if (first <= 0 || last === first) return { error: `malformed scope "${scope.slice(0, 200)}"` };
    const type = scope.slice(0, first).replace(/\([a-z0-9]+\)$/, '');
    if (type !== 'repository') continue;
    const name = scope.slice(first + 1, last);
    if (!isValidName(name)) return { error: `scope names an invalid repository "${name.slice(0, 200)}"` };
    const actions = scope.slice(last + 1).split(',');
    const set = wanted.get(name) ?? new Set<DockerAction>();
    for (const action of actions) {
      if (action === '*') DOCKER_ACTIONS.forEach((each) => set.add(each));
      else if ((DOCKER_ACTIONS as readonly string[]).includes(action)) set.add(action as DockerAction);
    }
    wanted.set(name, set);
  }
  return [...wanted].map(([name, actions]) => ({ name, actions: DOCKER_ACTIONS.filter((action) => actions.has(action)) }));
}

/** What of `requested` the policy allows: the `access` claim of the token (Docker's shape). */
export function grantScopes(requested: readonly RequestedScope[], can: (action: Action, repository: string) => boolean): RequestedScope[] {
  return requested.map(({ name, actions }) => ({ name, actions: actions.filter((action) => can(NEEDS[action], name)) }));
}

/** A token's `access` claim as Berth's grants; anything not in Docker's shape grants nothing. */
export function grantsOf(access: unknown): Grants {
  const grants = new Map<string, Set<Action>>();
  if (!Array.isArray(access)) return grants;
  for (const entry of access as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { type, name, actions } = entry as { type?: unknown; name?: unknown; actions?: unknown };
    if (type !== 'repository' || typeof name !== 'string' || !Array.isArray(actions)) continue;
    const set = grants.get(name) ?? new Set<Action>();
    for (const action of actions) if ((DOCKER_ACTIONS as readonly unknown[]).includes(action)) MEANS[action as DockerAction].forEach((each) => set.add(each));
    grants.set(name, set);
  }
  return grants;
}

/** Whether `grants` let the holder do `action` on `repository`. */
export function grantAllows(grants: Grants, action: Action, repository: string): boolean {
  return grants.get(repository)?.has(action) ?? false;
}

/** The scope a /v2 request needs, for the Bearer challenge: pull to read, push to write, delete. */
export function challengeScope(name: string, method: string): string {
  const actions = method === 'GET' || method === 'HEAD' ? 'pull' : method === 'DELETE' ? 'delete' : 'pull,push';
  return `repository:${name}:${actions}`;
}
