/**
 * `storage.retention`: which tags and untagged manifests garbage collection may remove. Globs and
 * regexes are compiled here so a bad one stops Berth at start, naming its key.
 */
import { parseDuration } from './duration.js';
import { compileRepositoryGlob, type RepositoryMatcher } from './repository-glob.js';
import type { ZotRetention } from './zot-config.js';

export interface KeepRule {
  patterns: RegExp[];
  pushedWithinMs?: number;
  mostRecentlyPushedCount?: number;
  /** Pull-based rules need pull records Berth does not keep: such a rule keeps what it matches. */
  pullBased: boolean;
}

export interface RetentionPolicyConfig {
  repositories: string[];
  matches: RepositoryMatcher;
  deleteReferrers: boolean;
  deleteUntagged: boolean;
  keepTags: KeepRule[];
  keepUntagged?: KeepRule;
}

export interface RetentionConfig {
  dryRun: boolean;
  /** Age an untagged manifest or orphan referrer must reach before removal (default gcDelay). */
  delayMs: number;
  policies: RetentionPolicyConfig[];
}

/** One `keepTags` entry or `keepUntagged`, as the schema accepted it. */
type RawRule = NonNullable<NonNullable<ZotRetention['policies']>[number]['keepUntagged']>;

function readRule(raw: RawRule, where: string, problems: string[], warnings: string[]): KeepRule {
  const patterns = (raw.patterns ?? ['.*']).map((pattern, i) => {
    try {
      // zot matches tag regexes anywhere in the tag (Go regexp.MatchString), so do not anchor.
      return new RegExp(pattern);
    } catch (error) {
      problems.push(`${where}/patterns/${i}: not a regular expression: ${(error as Error).message}`);
      return /$^/;
    }
  });
  const pullBased = raw.pulledWithin !== undefined || raw.mostRecentlyPulledCount !== undefined;
  if (pullBased) warnings.push(`${where}: pulledWithin/mostRecentlyPulledCount need pull records Berth does not keep; the rule keeps every tag it matches`);
  return {
    patterns,
    pullBased,
    ...(raw.pushedWithin !== undefined ? { pushedWithinMs: parseDuration(raw.pushedWithin)! } : {}),
    ...(raw.mostRecentlyPushedCount !== undefined ? { mostRecentlyPushedCount: raw.mostRecentlyPushedCount } : {}),
  };
}

export function readRetention(raw: ZotRetention | undefined, gcDelayMs: number, file: string, problems: string[], warnings: string[]): RetentionConfig {
  const policies = (raw?.policies ?? []).map((policy, i) => {
    const where = `${file}: /storage/retention/policies/${i}`;
    const matchers = policy.repositories.map((pattern, j) => {
      try {
        return compileRepositoryGlob(pattern);
      } catch (error) {
        problems.push(`${where}/repositories/${j}: the pattern does not compile: ${(error as Error).message}`);
        return () => false;
      }
    });
    return {
      repositories: policy.repositories,
      matches: (repository: string) => matchers.some((matches) => matches(repository)),
      deleteReferrers: policy.deleteReferrers ?? false,
      deleteUntagged: policy.deleteUntagged ?? true,
      keepTags: (policy.keepTags ?? []).map((rule, j) => readRule(rule, `${where}/keepTags/${j}`, problems, warnings)),
      ...(policy.keepUntagged ? { keepUntagged: readRule(policy.keepUntagged, `${where}/keepUntagged`, problems, warnings) } : {}),
    };
  });
  return { dryRun: raw?.dryRun ?? false, delayMs: raw?.delay === undefined ? gcDelayMs : parseDuration(raw.delay)!, policies };
}
