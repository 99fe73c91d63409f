/**
 * zot's retention rules for tags and untagged manifests (pkg/retention): a tag survives when some
 * keepTags rule keeps it; a rule keeps the tags its patterns match that were pushed within its
 * window or are among its most recently pushed; a rule with neither condition keeps every match.
 */
import type { KeepRule } from '../config/retention-config.js';
import type { Descriptor } from '../oci/manifest.js';
import { REF_NAME } from '../storage/store.js';

type PushedAt = (entry: Descriptor) => number;

function keeps(rule: KeepRule, candidates: Descriptor[], pushedAt: PushedAt, now: number): Set<Descriptor> {
  const matching = candidates.filter((entry) => rule.patterns.some((pattern) => pattern.test(entry.annotations?.[REF_NAME] ?? '')));
  const conditional = rule.pushedWithinMs !== undefined || rule.mostRecentlyPushedCount !== undefined;
  if (!conditional || rule.pullBased) return new Set(matching);
  const kept = new Set<Descriptor>();
  if (rule.pushedWithinMs !== undefined) for (const entry of matching) if (now - pushedAt(entry) <= rule.pushedWithinMs) kept.add(entry);
  if (rule.mostRecentlyPushedCount !== undefined) {
    const newest = [...matching].sort((a, b) => pushedAt(b) - pushedAt(a)).slice(0, rule.mostRecentlyPushedCount);
    for (const entry of newest) kept.add(entry);
  }
  return kept;
}

/** Tags no keepTags rule keeps. */
export function tagsToRemove(entries: Descriptor[], rules: KeepRule[], pushedAt: PushedAt, now: number): string[] {
  const tagged = entries.filter((entry) => entry.annotations?.[REF_NAME] !== undefined);
  const kept = new Set<Descriptor>();
  for (const rule of rules) for (const entry of keeps(rule, tagged, pushedAt, now)) kept.add(entry);
  return tagged.filter((entry) => !kept.has(entry)).map((entry) => entry.annotations![REF_NAME]!);
}

/** Whether keepUntagged keeps this untagged manifest (patterns do not apply to untagged ones). */
export function untaggedKept(entry: Descriptor, rule: KeepRule | undefined, pushedAt: PushedAt, now: number, entries: Descriptor[]): boolean {
  if (!rule) return false;
  const untagged = entries.filter((candidate) => candidate.annotations?.[REF_NAME] === undefined);
  return keeps({ ...rule, patterns: [/^$/] }, untagged, pushedAt, now).has(entry);
}
