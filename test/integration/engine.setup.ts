// Which engine an integration project tests (vitest.config.ts): the default DOCKER_HOST, or with
// TEST_ENGINE=current the current engine (29) that global-setup provides. Set in the worker's
// environment, so the tests' own docker calls and the tasks they run go to the same engine.
import { inject } from 'vitest'

if (process.env.TEST_ENGINE === 'current') process.env.DOCKER_HOST = inject('engineCurrent')
