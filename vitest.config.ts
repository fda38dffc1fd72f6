import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    testTimeout: 180_000,
    hookTimeout: 180_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/emulators/**/*.test.ts'],
          // One engine and one base image for the whole run.
          globalSetup: ['test/global-setup.ts'],
          // Integration files share that engine on a 2-core machine: one file at a time.
          fileParallelism: false,
        },
      },
    ],
  },
})
