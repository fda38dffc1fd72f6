// @ts-check
// Docker CLI plumbing for the smolvm emulator. Every call goes through the `docker` CLI (so
// DOCKER_HOST and docker contexts are honoured exactly as the CLI honours them). Override the binary
// with SMOLVM_EMULATOR_DOCKER.
import { spawn, spawnSync } from 'node:child_process'

export const DOCKER = process.env.SMOLVM_EMULATOR_DOCKER || 'docker'

/** @typedef {{ code: number, stdout: string, stderr: string }} Result */

/**
 * Run docker to completion. Never throws on exit status.
 * @param {string[]} args @param {{ input?: string | Buffer, maxBuffer?: number }} [options] @returns {Result}
 */
export function docker(args, { input, maxBuffer = 256 * 1024 * 1024 } = {}) {
  const r = spawnSync(DOCKER, args, { input, maxBuffer, env: process.env })
  if (r.error) {
    return { code: 127, stdout: '', stderr: `${DOCKER}: ${r.error.message}` }
  }
  return {
    code: r.status ?? 128 + (r.signal ? 1 : 0),
    stdout: r.stdout ? r.stdout.toString('utf8') : '',
    stderr: r.stderr ? r.stderr.toString('utf8') : '',
  }
}

/** Like docker(), but throws DockerError with docker's stderr when it fails. @param {string[]} args @param {{ input?: string | Buffer, maxBuffer?: number }} [options] */
export function dockerOrThrow(args, options) {
  const r = docker(args, options)
  if (r.code !== 0) throw new DockerError(args, r)
  return r
}

export class DockerError extends Error {
  /** @param {string[]} args @param {Result} result */
  constructor(args, result) {
    super(cleanDockerMessage(result.stderr) || `docker ${args[0]} failed with exit ${result.code}`)
    this.result = result
  }
}

/** "Error response from daemon: x" → "x"; multi-line output collapsed to its meaningful lines. @param {string} stderr */
export function cleanDockerMessage(stderr) {
  return String(stderr)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => l.replace(/^Error response from daemon:\s*/, '').replace(/^Error:\s*/, ''))
    .join('; ')
}

/**
 * The parts of `docker container inspect` the emulator reads.
 * @typedef {object} DockerContainer
 * @property {string} Id
 * @property {string} Name
 * @property {string} Image
 * @property {{ Status: string, Paused: boolean, Pid: number, StartedAt: string }} State
 * @property {{ Labels: Record<string, string> | null }} Config
 */

/**
 * The parts of `docker image inspect` the emulator reads.
 * @typedef {object} DockerImage
 * @property {string} Id
 * @property {string} [Os]
 * @property {string} [Architecture]
 * @property {number} [Size]
 * @property {string[] | null} [RepoDigests]
 * @property {{ Layers?: string[] }} [RootFS]
 * @property {{ Entrypoint?: string[] | null, Cmd?: string[] | null, Env?: string[] | null, WorkingDir?: string, User?: string } | null} [Config]
 */

/** @param {string[]} args @returns {unknown} */
function inspectOne(args) {
  const r = docker(args)
  if (r.code !== 0) return null
  try {
    return JSON.parse(r.stdout)[0] ?? null
  } catch {
    return null
  }
}

/** `docker container inspect` of one container; null when it does not exist. @param {string} ref @returns {DockerContainer | null} */
export const inspectContainer = (ref) => /** @type {DockerContainer | null} */ (inspectOne(['container', 'inspect', ref]))

/** `docker image inspect` of one image; null when it does not exist. @param {string} ref @returns {DockerImage | null} */
export const inspectImage = (ref) => /** @type {DockerImage | null} */ (inspectOne(['image', 'inspect', ref]))

/**
 * Spawn docker with the given stdio and resolve with { code, signal } when it exits. `onSpawn` gets
 * the ChildProcess (to pipe into it, or kill it).
 */
/**
 * @param {string[]} args
 * @param {{ stdio?: import('node:child_process').StdioOptions, onSpawn?: (child: import('node:child_process').ChildProcess) => void }} [options]
 * @returns {Promise<{ code: number | null, signal: NodeJS.Signals | null, error?: Error }>}
 */
export function dockerSpawn(args, { stdio = 'inherit', onSpawn } = {}) {
  return new Promise((resolve) => {
    const child = spawn(DOCKER, args, { stdio, env: process.env })
    child.on('error', (err) => resolve({ code: 127, signal: null, error: err }))
    child.on('close', (code, signal) => resolve({ code, signal }))
    if (onSpawn) onSpawn(child)
  })
}
