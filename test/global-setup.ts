// Once per test run: make sure a Docker engine answers and the base image exists.
import { execa } from 'execa'
import { BASE_IMAGE } from './helpers.ts'

export default async function setup(): Promise<void> {
  const info = await execa('docker', ['info', '--format', '{{.ServerVersion}}'], { reject: false })
  if (info.exitCode !== 0) {
    throw new Error(`no Docker engine answers (${info.stderr.split('\n')[0]}): start one, e.g. sudo bash scripts/ci/ensure-engine.sh`)
  }
  const image = await execa('docker', ['image', 'inspect', BASE_IMAGE], { reject: false })
  if (image.exitCode !== 0) {
    // Pulls where a registry is reachable, builds with debootstrap where not.
    await execa('bash', ['scripts/ci/ensure-base-image.sh'], { stdio: 'inherit' })
  }
}
