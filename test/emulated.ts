// The Apple `container` and smolvm backends run through the same tasks as the docker one, against
// emulators of their CLIs (test/emulators) that do the real work with Docker. What the test files of
// both backends share.
import { join } from 'node:path'
import { execa } from 'execa'
import { ROOT, BASE_IMAGE } from './helpers.ts'

export const EMULATORS = join(ROOT, 'test', 'emulators')

/** The environment of a command run against the emulators (first on PATH). */
export const withEmulators = (registryImage: string, extra: Record<string, string> = {}) => ({
  PATH: `${EMULATORS}:${process.env.PATH}`,
  BOTTLE_TASKS_REGISTRY_IMAGE: registryImage,
  ...extra,
})

export const stateFile = (home: string, slug: string, file: string) => join(home, 'state', slug, file)

/** The test images: the plain one (no `node` user, like debian:bookworm-slim itself) and the agent-like one. */
export const testImages = (agentImage: string) =>
  [
    { kind: 'plain', image: BASE_IMAGE, user: undefined, home: '/root' },
    { kind: 'agent', image: agentImage, user: 'node', home: '/home/node' },
  ] as const

/** `docker build` of a Dockerfile given on stdin (the classic builder: no BuildKit here). */
export const buildImage = (tag: string, dockerfile: string) => execa('docker', ['build', '-q', '-t', tag, '-'], { input: dockerfile, env: { DOCKER_BUILDKIT: '0' } })
