import { defineConfig } from 'vitest/config';

/** What both projects share; the build and the services (globalSetup) run once, for the root. */
const shared = {
  testTimeout: 60_000,
  hookTimeout: 120_000,
  pool: 'forks',
  setupFiles: ['test/setup/scratch-cleanup.ts'],
} as const;

export default defineConfig({
  test: {
    globalSetup: ['test/setup/build.ts', 'test/setup/services.ts'],
    reporters: ['default', './test/setup/plain-summary.ts'],
    projects: [
      { test: { ...shared, name: 'fs', include: ['test/**/*.test.ts'] } },
      // The registry's HTTP suites once more with blobs and manifests in the test Ceph cluster's S3
      // and locks, upload sessions and sign-in state in Redis: both stores behind the same API.
      { test: { ...shared, name: 's3', include: ['test/http/**/*.test.ts', 'test/conformance/**/*.test.ts'], env: { BERTH_TEST_STORAGE: 's3' } } },
    ],
  },
});
