// Questions to the Docker Engine API over the socket the docker CLI uses: a GET costs a few
// milliseconds where starting the CLI costs tens. Used by lib/docker.ts only, and only where the
// answer is the same JSON the CLI would print (`docker inspect` prints the API's objects as they are),
// and for the one write that is the same single request either way: a tag (`docker tag` is one
// POST /images/{name}/tag), which fork --count makes twenty of.
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
  const { status, body } = await ask('GET', path)
  if (status === 404) return undefined
  failUnlessOk('GET', path, status, body)
  return JSON.parse(body) as unknown
}

/** POST `path` with no body (a tag); a failure (404 included) is worded like the CLI's. */
export async function enginePost(path: string): Promise<void> {
  const { status, body } = await ask('POST', path)
  failUnlessOk('POST', path, status, body)
}

async function ask(method: 'GET' | 'POST', path: string): Promise<{ status: number; body: string }> {
  const socketPath = engineSocket()!
  return httpRequest(socketPath, method, path).catch((error: NodeJS.ErrnoException) => {
    const unreachable = error.code === 'ENOENT' || error.code === 'ECONNREFUSED' || error.code === 'EACCES'
    throw new ToolError(`docker (${method} ${path})`, 1, unreachable ? `Cannot connect to the Docker daemon at unix://${socketPath}. Is the docker daemon running? (${error.code})` : error.message)
  })
}

function failUnlessOk(method: string, path: string, status: number, body: string): void {
  if (status >= 200 && status < 300) return
  let message = body
  try {
    message = (JSON.parse(body) as { message?: string }).message ?? body
  } catch {
    // not JSON
  }
  throw new ToolError(`docker (${method} ${path})`, 1, `Error response from daemon: ${message}`)
}

/**
 * One HTTP/1.0 request over a unix socket: the engine answers and closes, with no chunking, so the
 * answer is the status line, headers, a blank line and the body. Plain `net` instead of `node:http`,
 * whose parser and agent cost more to load than a whole list of bottles takes to read.
 */
async function httpRequest(socketPath: string, method: 'GET' | 'POST', path: string): Promise<{ status: number; body: string }> {
  const net = await import('node:net')
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    // Written, not ended: the engine (Go's net/http) takes a client that half-closes for one that
    // went away and cancels the request ("context canceled"), which slower handlers lose to.
    const head = method === 'POST' ? 'Content-Length: 0\r\n' : ''
    const socket = net.createConnection(socketPath, () => socket.write(`${method} ${path} HTTP/1.0\r\nHost: docker\r\n${head}\r\n`))
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', reject)
    // Closed without an end or an error (the engine went away mid-answer): said, not left pending
    // (a promise nothing can settle, with no socket left, ends the process with exit code 13).
    socket.on('close', () => reject(new Error(`the engine closed the connection before answering ${method} ${path}`)))
    socket.on('end', () => {
      const answer = Buffer.concat(chunks)
      const split = answer.indexOf('\r\n\r\n')
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer.subarray(0, 16).toString('latin1'))?.[1])
      if (split < 0 || !status) return reject(new Error(`the engine's answer to ${method} ${path} is not HTTP`))
      resolve({ status, body: answer.subarray(split + 4).toString('utf8') })
    })
  })
}

/** Whether a socket file is there at all (a quick answer for "is Docker installed and up"). */
export function socketExists(): boolean {
  const path = engineSocket()
  return path !== null && existsSync(path)
}
