// Questions to the Docker Engine API over the socket the docker CLI uses: a GET costs a few
// milliseconds where starting the CLI costs tens. Used by lib/docker.ts only, and only where the
// answer is the same JSON the CLI would print (`docker inspect` prints the API's objects as they are),
// and for what is the same few requests either way: a tag (`docker tag` is one POST
// /images/{name}/tag; fork --count makes twenty), and an exec that flushes or lists files (create,
// start attached, inspect: what `docker exec` sends), which every commit and watch turn makes.
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

async function ask(method: 'GET' | 'POST', path: string, json?: unknown): Promise<{ status: number; body: string; raw: Buffer }> {
  const socketPath = engineSocket()!
  return httpRequest(socketPath, method, path, json).catch((error: NodeJS.ErrnoException) => {
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
async function httpRequest(socketPath: string, method: 'GET' | 'POST', path: string, json?: unknown): Promise<{ status: number; body: string; raw: Buffer }> {
  const net = await import('node:net')
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    // Written, not ended: the engine (Go's net/http) takes a client that half-closes for one that
    // went away and cancels the request ("context canceled"), which slower handlers lose to.
    const payload = json === undefined ? '' : JSON.stringify(json)
    const head = method === 'POST' ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n` : ''
    const socket = net.createConnection(socketPath, () => socket.write(`${method} ${path} HTTP/1.0\r\nHost: docker\r\n${head}\r\n${payload}`))
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
      const raw = answer.subarray(split + 4)
      resolve({ status, body: raw.toString('utf8'), raw })
    })
  })
}

/**
 * Run a command in a running container and wait for it (`docker exec` without the CLI): create the
 * exec, start it attached (the engine takes the connection over and writes stdout and stderr as
 * frames of an 8-byte header and the bytes until the command ends), then read its exit code. For
 * commands that only read or flush (sync, a listing of the files), where the CLI's start-up is most
 * of the cost.
 */
export async function engineExec(container: string, command: string[], user: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const createPath = `/containers/${encodeURIComponent(container)}/exec`
  const created = await ask('POST', createPath, { AttachStdout: true, AttachStderr: true, User: user, Cmd: command })
  failUnlessOk('POST', createPath, created.status, created.body)
  const { Id: id } = JSON.parse(created.body) as { Id: string }
  const started = await ask('POST', `/exec/${id}/start`, { Detach: false, Tty: false })
  failUnlessOk('POST', `/exec/${id}/start`, started.status, started.body)
  const streams: [Buffer[], Buffer[]] = [[], []]
  for (let at = 0; at + 8 <= started.raw.length; ) {
    const kind = started.raw[at]!
    const size = started.raw.readUInt32BE(at + 4)
    streams[kind === 2 ? 1 : 0].push(started.raw.subarray(at + 8, at + 8 + size))
    at += 8 + size
  }
  const inspected = (await engineGet(`/exec/${id}/json`)) as { ExitCode?: number | null } | undefined
  return { exitCode: inspected?.ExitCode ?? -1, stdout: Buffer.concat(streams[0]).toString('utf8'), stderr: Buffer.concat(streams[1]).toString('utf8') }
}

/** Whether a socket file is there at all (a quick answer for "is Docker installed and up"). */
export function socketExists(): boolean {
  const path = engineSocket()
  return path !== null && existsSync(path)
}
