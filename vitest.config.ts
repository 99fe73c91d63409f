import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['test/setup/build.ts'],
    setupFiles: ['test/setup/scratch-cleanup.ts'],
    reporters: ['default', './test/setup/plain-summary.ts'],
  },
});
