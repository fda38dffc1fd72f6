// Which engine a test file tests (vitest.config.ts): the default DOCKER_HOST, or with
// TEST_ENGINE=current the current engine (29) that global-setup provides. Set in the worker's
// environment, so the tests' own docker calls and the tasks they run go to the same engine.
// Before its first test the file waits for that engine's lane (test/lanes.ts): one file per engine
// at a time, the two engines side by side.
import { afterAll, beforeAll, inject } from 'vitest'
import { holdLanes, lanesOfThisFile } from '../lanes.ts'

if (process.env.TEST_ENGINE === 'current') process.env.DOCKER_HOST = inject('engineCurrent')

/** How long a file may wait for its lane: the other files of its engine run first. */
const LANE_WAIT_MS = 90 * 60_000

let release: (() => void) | undefined
beforeAll(async ({}, file) => {
  const asked = Date.now()
  release = await holdLanes(inject('laneServer'), lanesOfThisFile())
  // For the report of the slowest files (vitest.config.ts), which counts this hook's time too.
  file.meta.laneWaitMs = Date.now() - asked
}, LANE_WAIT_MS)
afterAll(() => release?.())
