// Read-only questions to the Docker Engine API over the socket the docker CLI uses: a GET costs a
// few milliseconds where starting the CLI costs tens. Used by lib/docker.ts only, and only where the
// answer is the same JSON the CLI would print (`docker inspect` prints the API's objects as they are).
// Anything but a local unix socket (tcp hosts with TLS, ssh, a docker context other than the default)
// goes through the CLI, which knows how to reach it.
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { ToolError } from './errors.ts'

let socket: string | null | undefined

/** The unix socket the CLI would use, or null when the CLI must be asked (another kind of host or context). */
export function engineSocket(): string | null {
  if (socket !== undefined) return socket
  socket = null
  if (process.env.DOCKER_CONTEXT && process.env.DOCKER_CONTEXT !== 'default') return socket
  const host = process.env.DOCKER_HOST
  if (host) {
    if (host.startsWith('unix://')) socket = host.slice('unix://'.length)
    return socket
  }
  const configDir = process.env.DOCKER_CONFIG || join(homedir(), '.docker')
  try {
    const current = (JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8')) as { currentContext?: string }).currentContext
    if (current && current !== 'default') return socket
  } catch {
    // no config: the default context
  }
  socket = '/var/run/docker.sock'
  return socket
}

/** Whether reads can go to the API here. A socket that is not there is reported as the CLI would. */
export function canAskEngine(): boolean {
  return engineSocket() !== null
}

/**
 * GET `path` (e.g. `/containers/json?all=1`); the parsed body, or undefined on 404 (no such
 * object). Other answers are failures, worded like the CLI's so the user sees the same line.
 */
export async function engineGet(path: string): Promise<unknown> {
  const socketPath = engineSocket()!
  const http = await import('node:http')
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const request = http.get({ socketPath, path, headers: { Host: 'docker' } }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (text += chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }))
      response.on('error', reject)
    })
    request.on('error', reject)
  }).catch((error: NodeJS.ErrnoException) => {
    const unreachable = error.code === 'ENOENT' || error.code === 'ECONNREFUSED' || error.code === 'EACCES'
    throw new ToolError(`docker (GET ${path})`, 1, unreachable ? `Cannot connect to the Docker daemon at unix://${socketPath}. Is the docker daemon running? (${error.code})` : error.message)
  })
  if (status === 404) return undefined
  if (status < 200 || status >= 300) {
    let message = body
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? body
    } catch {
      // not JSON
    }
    throw new ToolError(`docker (GET ${path})`, 1, `Error response from daemon: ${message}`)
  }
  return JSON.parse(body) as unknown
}

/** Whether a socket file is there at all (a quick answer for "is Docker installed and up"). */
export function socketExists(): boolean {
  const path = engineSocket()
  return path !== null && existsSync(path)
}
