import { configDefaults, defineConfig } from 'vitest/config';

/** What the projects share; the build and the services (globalSetup) run once, for the root. */
const shared = {
  testTimeout: 60_000,
  hookTimeout: 120_000,
  pool: 'forks',
  setupFiles: ['test/setup/scratch-cleanup.ts'],
} as const;

export default defineConfig({
  test: {
    // Builds dist/ and starts Ceph and Redis, unless the run selected only the `unit` project.
    globalSetup: ['test/setup/global.ts'],
    reporters: ['default', './test/setup/plain-summary.ts'],
    projects: [
      // No services, no build, no server: `npm run test:unit`, the edit-test loop. Its files are pure
      // modules (no signals, chdir or process state, no mocks), so they share one worker thread and
      // its module graph: a third of the time of a fresh process per file.
      { test: { ...shared, name: 'unit', include: ['test/unit/**/*.test.ts'], pool: 'threads', isolate: false } },
      // Everything else once, on the filesystem store.
      { test: { ...shared, name: 'fs', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, 'test/unit/**'] } },
      // The registry's HTTP suites once more with blobs and manifests in the test Ceph cluster's S3
      // and locks, upload sessions and sign-in state in Redis: both stores behind the same API. The
      // pull-through cache too: what it stores goes through the same upload sessions.
      { test: { ...shared, name: 's3', include: ['test/http/**/*.test.ts', 'test/conformance/**/*.test.ts', 'test/e2e/sync-pull-through.test.ts'], env: { BERTH_TEST_STORAGE: 's3' } } },
    ],
  },
});
