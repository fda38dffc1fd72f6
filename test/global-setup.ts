// Once per test run: one Docker engine and one base image for every file; for the migration tests
// a second engine ("host B") and a registry on loopback. What this set-up starts, it stops.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import type { TestProject } from 'vitest/node'
import { BASE_IMAGE } from './helpers.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    /** DOCKER_HOST of the second engine. */
    engineB: string
    /** host:port of the registry on loopback. */
    registry: string
    /** A local image that serves a registry on :5000 (stands in for registry:2, which cannot be pulled here). */
    registryImage: string
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const info = await execa('docker', ['info', '--format', '{{.ServerVersion}}'], { reject: false })
  if (info.exitCode !== 0) {
    throw new Error(`no Docker engine answers (${info.stderr.split('\n')[0]}): start one, e.g. sudo bash scripts/ci/ensure-engine.sh`)
  }
  if ((await execa('docker', ['image', 'inspect', BASE_IMAGE], { reject: false })).exitCode !== 0) {
    // Pulls where a registry is reachable, builds with debootstrap where not.
    await execa('bash', ['scripts/ci/ensure-base-image.sh'], { stdio: 'inherit' })
  }

  // .ci/run starts these once for the whole run; a developer's `task test` starts its own here.
  const ciDir = mkdtempSync(join(tmpdir(), 'bottle-tasks-test-daemons-'))
  const env = { ...process.env, BOTTLE_TASKS_CI_DIR: ciDir }
  const engineB = process.env.BOTTLE_TASKS_ENGINE_B || (await execa('bash', ['scripts/ci/ensure-second-engine.sh'], { env, stderr: 'inherit' })).stdout.trim()
  const registry = process.env.BOTTLE_TASKS_REGISTRY || (await execa('bash', ['scripts/ci/registry.sh', 'start'], { env, stderr: 'inherit' })).stdout.trim()
  const registryImage = process.env.BOTTLE_TASKS_REGISTRY_IMAGE || (await execa('bash', ['scripts/ci/registry-image.sh'], { env, stderr: 'inherit' })).stdout.trim()
  project.provide('registryImage', registryImage)
  project.provide('engineB', engineB)
  project.provide('registry', registry)

  return async () => {
    await execa('bash', ['scripts/ci/stop-started.sh'], { env, reject: false, stdio: 'inherit' })
  }
}
