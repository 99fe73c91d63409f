/**
 * Repository patterns of accessControl (and retention): doublestar globs as zot reads them, `*`
 * within one path segment and `**` across segments. Compiled with picomatch; a pattern that does
 * not compile is a config error.
 */
import picomatch from 'picomatch';

export type RepositoryMatcher = (repository: string) => boolean;

/** Throws with picomatch's reason when the pattern does not compile. */
export function compileRepositoryGlob(pattern: string): RepositoryMatcher {
  return picomatch(pattern, { dot: true, strictBrackets: true });
}
