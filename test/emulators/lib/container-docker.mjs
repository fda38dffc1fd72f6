// The Docker engine underneath the emulator. Emulated containers are docker containers named
// `apple-<ID>` and labelled `bottle-tasks.emulator=container`, so they never mix with plain ones.
import { spawn, spawnSync } from 'node:child_process'
import { CliError } from './container-args.mjs'

export const PREFIX = 'apple-'
export const LABELS = {
  emulator: 'bottle-tasks.emulator',
  id: 'bottle-tasks.emulator.id',
  image: 'bottle-tasks.emulator.image',
  labels: 'bottle-tasks.emulator.labels',
  network: 'bottle-tasks.emulator.network',
  autoRemove: 'bottle-tasks.emulator.rm',
  tty: 'bottle-tasks.emulator.tty',
}
export const EMULATOR_LABEL = `${LABELS.emulator}=container`

export const dockerName = (id) => `${PREFIX}${id}`

/** Run docker and capture its output; throws a CliError with docker's stderr unless `allowFail`. */
export function docker(args, { allowFail = false, env, input } = {}) {
  const result = spawnSync('docker', args, {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, ...env },
    input,
  })
  if (result.error) throw new CliError(`cannot run docker: ${result.error.message}`)
  if (result.status !== 0 && !allowFail) {
    throw new CliError(result.stderr.trim().replace(/^Error( response from daemon)?: /, '') || `docker ${args[0]} failed`)
  }
  return { code: result.status ?? 1, stdout: result.stdout, stderr: result.stderr }
}

/**
 * Run a program with the emulator's own stdio, so bytes stream through unbuffered and unchanged.
 * `stdout: 'stderr'` routes the child's stdout to our stderr (keeps our stdout for results).
 * Resolves to the exit status (128+signal when killed); SIGINT/SIGTERM are passed on to the child.
 */
export function stream(program, args, { env, stdout = 'inherit' } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      stdio: ['inherit', stdout === 'stderr' ? process.stderr : 'inherit', 'inherit'],
      env: { ...process.env, ...env },
    })
    const forward = (signal) => child.kill(signal)
    process.on('SIGINT', forward)
    process.on('SIGTERM', forward)
    child.on('error', (error) => reject(new CliError(`cannot run ${program}: ${error.message}`)))
    child.on('close', (code, signal) => {
      process.off('SIGINT', forward)
      process.off('SIGTERM', forward)
      resolve(code ?? 128 + (signal ? osSignal(signal) : 1))
    })
  })
}

const osSignal = (name) => ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15 })[name] ?? 1

/** `docker inspect` of emulated containers by docker name; missing ones are left out. */
export function inspectContainers(names) {
  if (names.length === 0) return []
  const { stdout } = docker(['container', 'inspect', ...names], { allowFail: true })
  const found = stdout.trim() ? JSON.parse(stdout) : []
  return found.filter((container) => container.Config?.Labels?.[LABELS.emulator] === 'container')
}

/** The emulated container with this ID, or undefined. */
export const findContainer = (id) => inspectContainers([dockerName(id)])[0]

export function requireContainer(id) {
  const container = findContainer(id)
  if (!container) throw new CliError(`container not found: ${id}`)
  return container
}

/** Every emulated container, running or not. */
export function allContainers() {
  const { stdout } = docker(['container', 'ls', '--all', '--quiet', '--no-trunc', '--filter', `label=${EMULATOR_LABEL}`])
  return inspectContainers(stdout.split('\n').filter(Boolean))
}

export const isRunning = (container) => ['running', 'paused', 'restarting'].includes(container.State?.Status)

/** `docker image inspect` results for these references/ids, keyed by what was asked; missing → absent. */
export function inspectImages(refs) {
  const result = new Map()
  for (const ref of new Set(refs)) {
    const { code, stdout } = docker(['image', 'inspect', ref], { allowFail: true })
    if (code === 0) result.set(ref, JSON.parse(stdout)[0])
  }
  return result
}

export const inspectImage = (ref) => inspectImages([ref]).get(ref)

/** Wait until a container is gone (a `--rm` one after it stops). */
export async function waitGone(name, seconds = 15) {
  for (let waited = 0; waited < seconds * 10; waited++) {
    if (docker(['container', 'inspect', name], { allowFail: true }).code !== 0) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
