import { availableParallelism } from 'node:os'
import { defineConfig } from 'vitest/config'
import type { Plugin } from 'vite'
import type { Reporter, TestModule } from 'vitest/node'

/**
 * Files whose subject does not depend on the engine's version, run once (on the default engine):
 * the emulators, the Apple backend (which talks to `container` only, here its emulator), and bad
 * input refused before any engine is asked.
 */
const ANY_ENGINE = ['test/emulators/**/*.test.ts', 'test/integration/macos-container.test.ts', 'test/integration/bad-input.test.ts']
/** Files of the engine-29 lane only: the moves between engine generations use that lane's two engines, 29 and C (20.10). */
const CURRENT_ONLY = ['test/integration/engines.test.ts']
/** Pure logic of the emulators (argument parsers): unit tests, no engine. */
const EMULATOR_UNITS = ['test/emulators/**/*-parse.test.ts']

/** The integration suite, once per engine: the same files, the same set-up. */
const integration = {
  // Then, together: a worker for every file, each waiting at its lane's door (test/lanes.ts) until
  // the file before it on that engine is done. Fewer workers than files would let the waiters of
  // one lane take every worker while the other lane's files wait in vitest's queue, unstarted (seen
  // here with 6: engine 29's files started only when the default engine's were nearly done). A
  // worker that waits costs memory (~60 MB), not time.
  sequence: { groupOrder: 1 },
  maxWorkers: 64,
  include: ['test/integration/**/*.test.ts'],
  exclude: ANY_ENGINE,
  // The engines, the test images, the registry and the lane server, once for the whole run.
  globalSetup: ['test/global-setup.ts'],
  // Points DOCKER_HOST (the tests' docker calls and the tasks they run) at the project's engine,
  // and makes each file wait for that engine's lane: one file per engine at a time (test/lanes.ts).
  setupFiles: ['test/integration/engine.setup.ts'],
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

/** In CI, where the time went: the ten slowest files, by the time they ran (not the time they waited for their lane). */
class SlowestFiles implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const ran = testModules.map((module) => ({ name: `${module.project.name}: ${module.relativeModuleId}`, ms: module.diagnostic().duration - (module.meta().laneWaitMs ?? 0) }))
    const slowest = ran.sort((a, b) => b.ms - a.ms).slice(0, 10)
    if (slowest.length === 0) return
    process.stdout.write(`\nThe ten slowest test files (time running, without waiting for their lane):\n${slowest.map(({ name, ms }) => `  ${(ms / 60_000).toFixed(1).padStart(5)} min  ${name}`).join('\n')}\n`)
  }
}

/**
 * Added to the reporters here rather than in `reporters`, so CI's --reporter flags do not drop them.
 * Once: each project loads this file again (its own SkipsFailCi class), so the mark is on vitest.
 */
const ciReporters: Plugin = {
  name: 'bottle-tasks:ci-reporters',
  configureVitest({ vitest }) {
    const marked = vitest as typeof vitest & { bottleTasksCiReporters?: true }
    if (!process.env.CI || marked.bottleTasksCiReporters) return
    marked.bottleTasksCiReporters = true
    vitest.config.reporters.push(new SkipsFailCi(() => vitest.config.testNamePattern), new SlowestFiles())
  },
}

declare module 'vitest' {
  interface TaskMeta {
    /** How long a test file waited for its engine's lane (test/integration/engine.setup.ts). */
    laneWaitMs?: number
  }
}

export default defineConfig({
  plugins: [ciReporters],
  test: {
    testTimeout: 180_000,
    hookTimeout: 180_000,
    projects: [
      // First, a worker per core.
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts', ...EMULATOR_UNITS], sequence: { groupOrder: 0 }, maxWorkers: Math.max(2, availableParallelism()) } },
      // On the default engine, once.
      { extends: true, test: { ...integration, name: 'any-engine', include: ANY_ENGINE, exclude: EMULATOR_UNITS } },
      // Debian's engine 20.10 (the default DOCKER_HOST): legacy `docker save`, no zstd loads.
      { extends: true, test: { ...integration, name: 'integration', exclude: [...ANY_ENGINE, ...CURRENT_ONLY] } },
      // The current engine (29): containerd image store, OCI-layout `docker save`, zstd loads.
      { extends: true, test: { ...integration, name: 'integration@29', env: { TEST_ENGINE: 'current' } } },
    ],
  },
})
