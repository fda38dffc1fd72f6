// Once per test run: one Docker engine and the test images for every file; for the migration tests
// another host for each engine under test (B beside the default engine, C beside the current one,
// D that remaps users),
// a current engine (29) and a registry on loopback; the lane server that lets the two engines'
// files run side by side (test/lanes.ts). What this set-up starts, it stops. `bash .ci/run` starts
// the daemons once for the whole run and passes them in BOTTLE_TASKS_* variables; a developer's
// `task test` starts its own here.
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import type { TestProject } from 'vitest/node'
import { BASE_IMAGE } from './helpers.ts'
import { startLaneServer } from './lanes.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    /**
     * DOCKER_HOST of "another host" (Debian's 20.10) of the engine under test: engine B for the
     * default engine, engine C for the current one, so that neither lane sees the other's work there.
     */
    engineB: string
    /** DOCKER_HOST of a current engine (29: API 1.56, containerd image store, OCI-layout `docker save`). */
    engineCurrent: string
    /** host:port of the registry on loopback. */
    registry: string
    /** A local image that serves a registry on :5000 (stands in for registry:2, which cannot be pulled here). */
    registryImage: string
    /**
     * An agent-like image: debian:bookworm-slim plus the user/group `node` (1000:1000, home /home/node,
     * shell bash) of the node images bottles normally run. debian:bookworm-slim itself has no `node` user.
     * On every engine (default, B, C, current).
     */
    agentImage: string
    /** The unix socket of the lane server (test/lanes.ts). */
    laneServer: string
    /** DOCKER_HOST of engine D: Debian's 20.10 with --userns-remap=default (the default engine's lane). */
    engineUserns: string
    /**
     * How to restart `engineB` (its script's name for it, b or c, and the CI dir it was started
     * under): watch's test stops and starts it. Empty when the engine was given from outside.
     */
    engineBRestart: { name: string; ciDir: string } | null
  }
}

const AGENT_IMAGE = process.env.BOTTLE_TASKS_AGENT_IMAGE || 'bottle-tasks/agent:bookworm'

interface Provided {
  /** Where each side engine's pid file is (the CI dir it was started under), if these tests or .ci/run started it. */
  startedUnder: Record<'b' | 'c', string | undefined>
  registryImage: string
  engineB: string
  engineC: string
  engineUserns: string
  engineCurrent: string
  registry: string
  laneServer: string
}

// Both integration projects ("integration" on the default engine, "integration@29" on the current
// one) name this file: vitest runs it once per project, in this one process. The engines, images
// and registry are made once and stopped after the last project's teardown.
const shared = globalThis as typeof globalThis & { bottleTasksTestDaemons?: { ready: Promise<{ provided: Provided; stop: () => Promise<void> }>; users: number } }

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  shared.bottleTasksTestDaemons ??= { ready: startDaemons(), users: 0 }
  const daemons = shared.bottleTasksTestDaemons
  daemons.users += 1
  const { provided, stop } = await daemons.ready
  project.provide('registryImage', provided.registryImage)
  project.provide('engineB', project.config.env?.TEST_ENGINE === 'current' ? provided.engineC : provided.engineB)
  project.provide('engineCurrent', provided.engineCurrent)
  project.provide('registry', provided.registry)
  project.provide('agentImage', AGENT_IMAGE)
  project.provide('laneServer', provided.laneServer)
  project.provide('engineUserns', provided.engineUserns)
  const name = project.config.env?.TEST_ENGINE === 'current' ? 'c' : 'b'
  const ciDir = provided.startedUnder[name]
  project.provide('engineBRestart', ciDir ? { name, ciDir } : null)

  return async () => {
    daemons.users -= 1
    if (daemons.users === 0) {
      delete shared.bottleTasksTestDaemons
      await stop()
    }
  }
}

/**
 * The CI dir side engine `name` was started under (its pid file is there): ours, or the one .ci/run
 * started it under (BOTTLE_TASKS_CI_DIR); undefined for an engine from elsewhere.
 */
function startedUnder(name: 'b' | 'c', ours: string): string | undefined {
  // Ours only if it was not running already (started under another CI dir, which has its pid file).
  const candidates = process.env[`BOTTLE_TASKS_ENGINE_${name.toUpperCase()}`] ? [process.env.BOTTLE_TASKS_CI_DIR] : [ours, process.env.BOTTLE_TASKS_CI_DIR]
  return candidates.find((dir): dir is string => Boolean(dir) && existsSync(join(dir!, `dockerd@${name}.pid`)))
}

async function startDaemons(): Promise<{ provided: Provided; stop: () => Promise<void> }> {
  const info = await execa('docker', ['info', '--format', '{{.ServerVersion}}'], { reject: false })
  if (info.exitCode !== 0) {
    throw new Error(`no Docker engine answers (${info.stderr.split('\n')[0]}): start one, e.g. sudo bash scripts/ci/ensure-engine.sh`)
  }
  const missing = await Promise.all([BASE_IMAGE, AGENT_IMAGE].map(async (image) => (await execa('docker', ['image', 'inspect', image], { reject: false })).exitCode !== 0))
  if (missing.some(Boolean)) {
    // The plain image: pulled where a registry is reachable, built with debootstrap where not; the agent image on top.
    await execa('bash', ['scripts/ci/ensure-base-image.sh'], { env: { ...process.env, BOTTLE_TASKS_AGENT_IMAGE: AGENT_IMAGE }, stdio: 'inherit' })
  }

  const ciDir = mkdtempSync(join(tmpdir(), 'bottle-tasks-test-daemons-'))
  const env: Record<string, string | undefined> = { ...process.env, BOTTLE_TASKS_CI_DIR: ciDir, BOTTLE_TASKS_AGENT_IMAGE: AGENT_IMAGE }
  const script = async (name: string, ...args: string[]): Promise<string> => (await execa('bash', [`scripts/ci/${name}`, ...args], { env, stderr: 'inherit' })).stdout.trim()
  // The registry image first: the other engines get a copy of it.
  const registryImage = process.env.BOTTLE_TASKS_REGISTRY_IMAGE || (await script('registry-image.sh'))
  env.BOTTLE_TASKS_REGISTRY_IMAGE = registryImage
  const started = await Promise.allSettled([
    process.env.BOTTLE_TASKS_ENGINE_B || script('ensure-second-engine.sh', 'b'),
    process.env.BOTTLE_TASKS_ENGINE_C || script('ensure-second-engine.sh', 'c'),
    process.env.BOTTLE_TASKS_ENGINE_USERNS || script('ensure-second-engine.sh', 'd'),
    // Builds engine 29 the first time (~4 min; cached in /var/cache/bottle-tasks/bin afterwards).
    process.env.BOTTLE_TASKS_ENGINE_CURRENT || script('ensure-current-engine.sh'),
    process.env.BOTTLE_TASKS_REGISTRY || script('registry.sh', 'start'),
  ])
  const failed = started.find((result) => result.status === 'rejected')
  if (failed) {
    // The ones that did start are not left running: no teardown follows a set-up that threw.
    await execa('bash', ['scripts/ci/stop-started.sh'], { env, reject: false, stdio: 'inherit' })
    throw failed.reason
  }
  const [engineB, engineC, engineUserns, engineCurrent, registry] = started.map((result) => (result as PromiseFulfilledResult<string>).value) as [string, string, string, string, string]
  const laneServer = join(ciDir, 'lanes.sock')
  const lanes = await startLaneServer(laneServer)
  return {
    provided: { startedUnder: { b: startedUnder('b', ciDir), c: startedUnder('c', ciDir) }, registryImage, engineB, engineC, engineUserns, engineCurrent, registry, laneServer },
    stop: async () => {
      await lanes.stop()
      await execa('bash', ['scripts/ci/stop-started.sh'], { env, reject: false, stdio: 'inherit' })
    },
  }
}
