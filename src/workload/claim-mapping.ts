/**
 * zot's `claimMapping` for workload ID tokens, evaluated with @bufbuild/cel (a maintained CEL
 * evaluator): `variables` (bound as `vars.<name>`), `validations` (each must be `true`), `username`
 * (a string) and `groups` (a list of strings). Expressions are planned once per config; config
 * load has already refused those that do not parse (src/config/bearer-config.ts).
 */
import { celEnv, isCelError, isCelList, parse, plan, type CelResult } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import type { WorkloadIssuerConfig } from '../config/config.js';

type Program = (bindings: { claims: unknown; vars: unknown }) => CelResult;

/** What a token's claims map to, or the check that failed (never claim values beyond the message). */
export type Mapped = { ok: true; username: string; groups: string[] } | { ok: false; reason: string };

const env = celEnv({ funcs: strings });

function compile(expression: string): Program {
  return plan(env, parse(expression)) as unknown as Program;
}

/** JSON claims as CEL values: objects as maps, whole numbers as CEL ints (so `claims.n > 2` works). */
function toCel(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toCel);
  if (typeof value === 'object' && value !== null) return new Map(Object.entries(value).map(([key, item]) => [key, toCel(item)]));
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  return value;
}

export class ClaimMapping {
  private readonly variables: { name: string; program: Program }[];
  private readonly validations: { program: Program; message: string }[];
  private readonly username: Program;
  private readonly groups: Program | undefined;

  constructor(config: WorkloadIssuerConfig['claimMapping']) {
    this.variables = config.variables.map((variable) => ({ name: variable.name, program: compile(variable.expression) }));
    this.validations = config.validations.map((validation) => ({ program: compile(validation.expression), message: validation.message }));
    this.username = compile(config.username);
    this.groups = config.groups === undefined ? undefined : compile(config.groups);
  }

  /** Maps verified claims to a user name and groups; any error or non-true validation refuses. */
  map(payload: Record<string, unknown>): Mapped {
    const claims = toCel(payload);
    const vars = new Map<string, unknown>();
    // Top-level claims are bound by name too, as zot's example `"username": "sub"` expects.
    const bindings = { ...Object.fromEntries(claims as Map<string, unknown>), claims, vars };
    for (const { name, program } of this.variables) {
      const value = program(bindings);
      if (isCelError(value)) return { ok: false, reason: `claim mapping: variable ${name} failed: ${value.message}` };
      vars.set(name, value);
    }
    for (const { program, message } of this.validations) {
      const value = program(bindings);
      if (value !== true) return { ok: false, reason: `claim validation failed: ${message}` };
    }
    const username = this.username(bindings);
    if (typeof username !== 'string' || username === '') return { ok: false, reason: 'claim mapping: the username expression gave no string' };
    if (!this.groups) return { ok: true, username, groups: [] };
    const groups = this.groups(bindings);
    const list = isCelList(groups) ? [...(groups as unknown as Iterable<unknown>)] : typeof groups === 'string' ? [groups] : undefined;
    if (!list || !list.every((group) => typeof group === 'string')) return { ok: false, reason: 'claim mapping: the groups expression gave no list of strings' };
    return { ok: true, username, groups: list as string[] };
  }
}
