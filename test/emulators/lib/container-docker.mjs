// @ts-check
// The Docker engine underneath the emulator. Emulated containers are docker containers named
// `apple-<ID>`, emulated networks docker networks `apple-net-<ID>` (the builtin "default" is the
// engine's bridge), emulated volumes docker volumes `apple-vol-<NAME>`; all are labelled
// `bottle-tasks.emulator=container`, so they never mix with plain ones.
import { spawn, spawnSync } from 'node:child_process'
import { CliError } from './container-args.mjs'

export const PREFIX = 'apple-'
export const LABELS = {
  emulator: 'bottle-tasks.emulator',
  id: 'bottle-tasks.emulator.id',
  image: 'bottle-tasks.emulator.image',
  labels: 'bottle-tasks.emulator.labels',
  /** JSON [AttachmentConfiguration] as the real configuration holds it. */
  networks: 'bottle-tasks.emulator.networks',
  /** JSON [Filesystem]. */
  mounts: 'bottle-tasks.emulator.mounts',
  /** JSON {cpus, memoryInBytes}. */
  resources: 'bottle-tasks.emulator.resources',
  /** JSON DNSConfiguration, or null (--no-dns). */
  dns: 'bottle-tasks.emulator.dns',
  autoRemove: 'bottle-tasks.emulator.rm',
  tty: 'bottle-tasks.emulator.tty',
  /** On a network: nat | hostOnly. */
  networkMode: 'bottle-tasks.emulator.network-mode',
  /** On a network or volume: its labels as JSON. */
  ownLabels: 'bottle-tasks.emulator.own-labels',
  /** On an image: `bottle-tasks.emulator.variant.<os>/<arch>[/<variant>]=<docker image>` adds a variant. */
  variant: 'bottle-tasks.emulator.variant.',
}
export const EMULATOR_LABEL = `${LABELS.emulator}=container`

/** @param {string} id */
export const dockerName = (id) => `${PREFIX}${id}`
/** The builtin network "default" is the engine's own bridge. @param {string} id */
export const dockerNetwork = (id) => (id === 'default' ? 'bridge' : `${PREFIX}net-${id}`)
/** @param {string} name */
export const dockerVolume = (name) => `${PREFIX}vol-${name}`

/**
 * @typedef {{ code: number, stdout: string, stderr: string }} Result
 * @typedef {{ allowFail?: boolean, env?: Record<string, string>, input?: string }} DockerOptions
 */

/**
 * Run docker and capture its output; throws a CliError with docker's stderr unless `allowFail`.
 * @param {string[]} args @param {DockerOptions} [options] @returns {Result}
 */
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
 * @param {string} program @param {string[]} args
 * @param {{ env?: Record<string, string>, stdout?: 'inherit' | 'stderr' }} [options]
 * @returns {Promise<number>}
 */
export function stream(program, args, { env, stdout = 'inherit' } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      stdio: ['inherit', stdout === 'stderr' ? process.stderr : 'inherit', 'inherit'],
      env: { ...process.env, ...env },
    })
    /** @param {NodeJS.Signals} signal */
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

/** @param {string} name */
const osSignal = (name) => ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15 })[name] ?? 1

/**
 * The parts of `docker inspect` the emulator reads.
 * @typedef {object} DockerContainer
 * @property {string} Id
 * @property {string} Name
 * @property {string} Image
 * @property {string} Created
 * @property {string} Path
 * @property {string[] | null} Args
 * @property {{ Status: string, ExitCode: number, StartedAt: string, FinishedAt: string }} State
 * @property {{ Labels: Record<string, string> | null, Env: string[] | null, User: string, WorkingDir: string, Image: string, Tty: boolean }} Config
 * @property {{ Networks?: Record<string, { IPAddress: string, IPPrefixLen: number, Gateway: string, MacAddress: string }> }} [NetworkSettings]
 * @property {{ ReadonlyRootfs?: boolean }} [HostConfig]
 */

/**
 * @typedef {object} DockerImageConfig
 * @property {string[] | null} [Env]
 * @property {string[] | null} [Cmd]
 * @property {string[] | null} [Entrypoint]
 * @property {string} [WorkingDir]
 * @property {string} [User]
 * @property {Record<string, string> | null} [Labels]
 * @property {string} [StopSignal]
 */

/**
 * @typedef {object} DockerImage
 * @property {string} Id
 * @property {string} Created
 * @property {string} Architecture
 * @property {string} Os
 * @property {string} [Variant]
 * @property {string} [Author]
 * @property {number} [Size]
 * @property {DockerImageConfig | null} [Config]
 * @property {{ Layers?: string[] }} [RootFS]
 */

/** @param {string[]} names @returns {DockerContainer[]} */
export function inspectContainers(names) {
  if (names.length === 0) return []
  const { stdout } = docker(['container', 'inspect', ...names], { allowFail: true })
  /** @type {DockerContainer[]} */
  const found = stdout.trim() ? JSON.parse(stdout) : []
  return found.filter((container) => container.Config?.Labels?.[LABELS.emulator] === 'container')
}

/** The emulated container with this ID, or undefined. @param {string} id */
export const findContainer = (id) => inspectContainers([dockerName(id)])[0]

/** @param {string} id */
export function requireContainer(id) {
  const container = findContainer(id)
  // ContainerClient.get (start, exec): "get failed: container ID not found".
  if (!container) throw new CliError(`get failed: container ${id} not found`)
  return container
}

/** Every emulated container, running or not. */
export function allContainers() {
  const { stdout } = docker(['container', 'ls', '--all', '--quiet', '--no-trunc', '--filter', `label=${EMULATOR_LABEL}`])
  return inspectContainers(stdout.split('\n').filter(Boolean))
}

/** @param {DockerContainer} container */
export const isRunning = (container) => ['running', 'paused', 'restarting'].includes(container.State?.Status)

/** The emulated labels of a container. @param {DockerContainer} container */
export const containerLabels = (container) => container.Config.Labels ?? {}

/**
 * `docker image inspect` results for these references/ids, keyed by what was asked; missing → absent.
 * @param {string[]} refs @returns {Map<string, DockerImage>}
 */
export function inspectImages(refs) {
  /** @type {Map<string, DockerImage>} */
  const result = new Map()
  for (const ref of new Set(refs)) {
    const { code, stdout } = docker(['image', 'inspect', ref], { allowFail: true })
    if (code === 0) result.set(ref, JSON.parse(stdout)[0])
  }
  return result
}

/** @param {string} ref */
export const inspectImage = (ref) => inspectImages([ref]).get(ref)

/**
 * A docker network or volume, or undefined.
 * @param {'network' | 'volume'} kind @param {string} name
 * @returns {{ Name: string, Labels: Record<string, string> | null, Internal?: boolean, Created?: string, CreatedAt?: string, Mountpoint?: string, IPAM?: { Config?: Array<{ Subnet?: string, Gateway?: string }> } } | undefined}
 */
export function inspectObject(kind, name) {
  const { code, stdout } = docker([kind, 'inspect', name], { allowFail: true })
  return code === 0 ? JSON.parse(stdout)[0] : undefined
}

/** Wait until a container is gone (a `--rm` one after it stops). @param {string} name */
export async function waitGone(name, seconds = 15) {
  for (let waited = 0; waited < seconds * 10; waited++) {
    if (docker(['container', 'inspect', name], { allowFail: true }).code !== 0) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
