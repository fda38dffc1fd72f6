import { defineConfig } from 'vitest/config'
import type { Plugin } from 'vite'
import type { Reporter, TestModule } from 'vitest/node'

/** The integration suite, once per engine: the same files, the same set-up. */
const integration = {
  include: ['test/integration/**/*.test.ts', 'test/emulators/**/*.test.ts'],
  // The engines, the test images and the registry, once for the whole run (both projects).
  globalSetup: ['test/global-setup.ts'],
  // Points DOCKER_HOST (the tests' docker calls and the tasks they run) at the project's engine.
  setupFiles: ['test/integration/engine.setup.ts'],
  // Integration files share the engines on a 2-core machine: one file at a time, across both projects.
  fileParallelism: false,
}

/**
 * In CI a skipped or todo test fails the run: a test that CI never runs guards nothing (go-task,
 * root and every engine are there). Not when a name filter (-t) skips the others on purpose.
 */
class SkipsFailCi implements Reporter {
  constructor(private readonly nameFilter: () => unknown) {}

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    if (this.nameFilter()) return
    const skipped = testModules.flatMap((module) => [...module.children.allTests()]).filter((test) => test.options.mode === 'skip' || test.options.mode === 'todo' || test.result().state === 'skipped')
    if (skipped.length === 0) return
    process.stderr.write(`\nCI=true and ${skipped.length} test(s) did not run (skipped or todo), which fails the run:\n${skipped.map((test) => `  ${test.module.moduleId}: ${test.fullName}`).join('\n')}\n`)
    process.exitCode = 1
  }
}

/** Added to the reporters here rather than in `reporters`, so CI's --reporter flags do not drop it. */
const skipsFailCi: Plugin = {
  name: 'bottle-tasks:skips-fail-ci',
  configureVitest({ vitest }) {
    if (!process.env.CI || vitest.config.reporters.some((reporter) => reporter instanceof SkipsFailCi)) return
    vitest.config.reporters.push(new SkipsFailCi(() => vitest.config.testNamePattern))
  },
}

export default defineConfig({
  plugins: [skipsFailCi],
  test: {
    testTimeout: 180_000,
    hookTimeout: 180_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      // Debian's engine 20.10 (the default DOCKER_HOST): legacy `docker save`, no zstd loads.
      { extends: true, test: { name: 'integration', ...integration } },
      // The current engine (29): containerd image store, OCI-layout `docker save`, zstd loads.
      { extends: true, test: { name: 'integration@29', ...integration, env: { TEST_ENGINE: 'current' } } },
    ],
  },
})
