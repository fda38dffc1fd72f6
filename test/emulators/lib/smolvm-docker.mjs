// @ts-nocheck
// Docker CLI plumbing for the smolvm emulator. Every call goes through the `docker` CLI (so
// DOCKER_HOST and docker contexts are honoured exactly as the CLI honours them). Override the binary
// with SMOLVM_EMULATOR_DOCKER.
import { spawn, spawnSync } from 'node:child_process'

export const DOCKER = process.env.SMOLVM_EMULATOR_DOCKER || 'docker'

/** Run docker to completion. Returns { code, stdout, stderr } (strings). Never throws on exit status. */
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

/** Like docker(), but throws DockerError with docker's stderr when it fails. */
export function dockerOrThrow(args, options) {
  const r = docker(args, options)
  if (r.code !== 0) throw new DockerError(args, r)
  return r
}

export class DockerError extends Error {
  constructor(args, result) {
    super(cleanDockerMessage(result.stderr) || `docker ${args[0]} failed with exit ${result.code}`)
    this.result = result
  }
}

/** "Error response from daemon: x" → "x"; multi-line output collapsed to its meaningful lines. */
export function cleanDockerMessage(stderr) {
  return String(stderr)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => l.replace(/^Error response from daemon:\s*/, '').replace(/^Error:\s*/, ''))
    .join('; ')
}

/** `docker inspect` one object; null when it does not exist. */
export function inspect(ref, type) {
  const args = type ? [type, 'inspect', ref] : ['inspect', ref]
  const r = docker(args)
  if (r.code !== 0) return null
  try {
    return JSON.parse(r.stdout)[0] ?? null
  } catch {
    return null
  }
}

/**
 * Spawn docker with the given stdio and resolve with { code, signal } when it exits. `onSpawn` gets
 * the ChildProcess (to pipe into it, or kill it).
 */
export function dockerSpawn(args, { stdio = 'inherit', onSpawn } = {}) {
  return new Promise((resolve) => {
    const child = spawn(DOCKER, args, { stdio, env: process.env })
    child.on('error', (err) => resolve({ code: 127, signal: null, error: err }))
    child.on('close', (code, signal) => resolve({ code, signal }))
    if (onSpawn) onSpawn(child)
  })
}
