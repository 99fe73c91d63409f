/**
 * vitest's one root globalSetup: what the selected projects need before any test file runs.
 *
 * The `unit` project (test/unit) needs nothing: no dist/, no Ceph, no Redis. When it is all the run
 * selected (`npm run test:unit`, `vitest run --project unit`), this setup does nothing, and the
 * edit-test loop takes seconds. Any other selection (the `fs` and `s3` projects, a plain
 * `vitest run`) gets the build (./build.ts) and the services (./services.ts). vitest calls the root's
 * globalSetup for every selection, with the root project; `vitest.projects` lists only the projects
 * the `--project` filter kept.
 */
import type { TestProject } from 'vitest/node';
import buildDist from './build.js';
import startServices from './services.js';

/** The projects whose files need neither the build nor the services. */
const SELF_CONTAINED = new Set(['unit']);

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const selected = project.vitest.projects.map((each) => each.name);
  if (selected.every((name) => SELF_CONTAINED.has(name))) {
    console.log(`global setup: only ${selected.join(', ')} selected: no build, no services`);
    return undefined;
  }
  buildDist();
  return startServices(project);
}
