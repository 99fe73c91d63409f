/** What Berth refuses in a zot.json document: ConfigError's problems (each names its JSON path), [] when it loads. */
import { ConfigError } from '../../src/config/config.js';
import { buildConfig } from '../../src/config/load-config.js';

export function configProblems(document: unknown, file = 'f.json'): string[] {
  try {
    buildConfig(document, file);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}
