// The Engine API client against a stand-in engine on a unix socket that behaves as Go's net/http
// does: a client that half-closes its side has gone away, and its request is canceled
// ("context canceled"). The engine loses that race on slower handlers (a volume on 20.10).
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const dir = mkdtempSync(join(tmpdir(), 'bottle-tasks-engine-api-'))
const socketPath = join(dir, 'docker.sock')
let server: Server
/** Requests under /held/ wait here until the test answers them. */
const held = new Map<string, { connection: Socket; clientEnded: () => boolean }>()
const heldArrived = new Map<string, () => void>()
/** Every request line the stand-in engine got. */
const requests: string[] = []

/** An exec as the engine runs it: its id, then frames of stdout (1) and stderr (2), then its exit code. */
function answerExec(connection: Socket, path: string): boolean {
  if (/^\/containers\/[^/]+\/exec$/.test(path)) {
    connection.end(`HTTP/1.0 201 Created\r\nContent-Type: application/json\r\n\r\n${JSON.stringify({ Id: 'e1' })}`)
    return true
  }
  if (path === '/exec/e1/start') {
    const frame = (kind: number, body: Buffer) => {
      const head = Buffer.alloc(8)
      head[0] = kind
      head.writeUInt32BE(body.length, 4)
      return Buffer.concat([head, body])
    }
    connection.write('HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n\r\n')
    // A character cut between two frames comes back whole.
    const cafe = Buffer.from('café\n')
    connection.end(Buffer.concat([frame(1, Buffer.from('line one\n')), frame(2, Buffer.from('a warning\n')), frame(1, cafe.subarray(0, 4)), frame(1, cafe.subarray(4))]))
    return true
  }
  if (path === '/exec/e1/json') {
    connection.end(`HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n${JSON.stringify({ ExitCode: 3 })}`)
    return true
  }
  return false
}

function answer(connection: Socket, path: string, clientEnded: boolean): void {
  const [status, body] = clientEnded
    ? ['500 Internal Server Error', { message: `get ${path}: context canceled` }]
    : path.endsWith('/missing')
      ? ['404 Not Found', { message: 'no such volume' }]
      : path.endsWith('/broken')
        ? ['500 Internal Server Error', { message: 'the daemon is unwell' }]
        : ['200 OK', { path }]
  connection.end(`HTTP/1.0 ${status}\r\nContent-Type: application/json\r\n\r\n${JSON.stringify(body)}`)
}

beforeAll(async () => {
  server = createServer({ allowHalfOpen: true }, (connection) => {
    let request = ''
    let ended = false
    connection.on('end', () => (ended = true))
    connection.on('data', (chunk) => {
      request += chunk.toString()
      if (!request.includes('\r\n\r\n')) return
      const [, method = '', path = ''] = /^(GET|POST) (\S+) HTTP\/1\.0\r\n/.exec(request) ?? []
      requests.push(`${method} ${path}${/\r\nContent-Length: 0\r\n/.test(request) ? ' (empty body)' : ''}`)
      if (answerExec(connection, path)) return
      if (!path.startsWith('/held/')) return answer(connection, path, ended)
      held.set(path, { connection, clientEnded: () => ended })
      heldArrived.get(path)?.()
    })
  })
  await new Promise<void>((resolve) => server.listen(socketPath, resolve))
  process.env.DOCKER_HOST = `unix://${socketPath}`
  delete process.env.DOCKER_CONTEXT
})

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve))
  rmSync(dir, { recursive: true, force: true })
})

describe('engineGet', () => {
  it('keeps its side of the connection open until the engine has answered', async () => {
    const { engineGet } = await import('../../lib/engine-api.ts')
    const arrived = new Promise<void>((resolve) => heldArrived.set('/held/volumes/bt-ws-one', resolve))
    const slow = engineGet('/held/volumes/bt-ws-one')
    await arrived
    // A whole other request and answer while the first waits: a half-close of the first, sent with
    // its request, has reached the engine by now.
    expect(await engineGet('/volumes/other')).toEqual({ path: '/volumes/other' })
    const { connection, clientEnded } = held.get('/held/volumes/bt-ws-one')!
    expect(clientEnded()).toBe(false)
    answer(connection, '/held/volumes/bt-ws-one', clientEnded())
    expect(await slow).toEqual({ path: '/held/volumes/bt-ws-one' })
  })

  it("returns undefined for a 404 and the daemon's words for other failures", async () => {
    const { engineGet } = await import('../../lib/engine-api.ts')
    expect(await engineGet('/volumes/missing')).toBeUndefined()
    await expect(engineGet('/volumes/broken')).rejects.toThrow(/Error response from daemon: the daemon is unwell/)
  })
})

describe('enginePost', () => {
  it('sends one POST with an empty body, and fails with the daemon\'s words (a 404 too)', async () => {
    const { enginePost } = await import('../../lib/engine-api.ts')
    await enginePost('/images/sha256%3Aabc/tag?repo=bot-bottle-committed-x&tag=1')
    expect(requests.at(-1)).toBe('POST /images/sha256%3Aabc/tag?repo=bot-bottle-committed-x&tag=1 (empty body)')
    await expect(enginePost('/images/missing')).rejects.toThrow(/Error response from daemon: no such volume/)
    await expect(enginePost('/images/broken')).rejects.toThrow(/Error response from daemon: the daemon is unwell/)
  })
})

describe('engineExec', () => {
  it('creates the exec, reads stdout and stderr apart from its frames, and its exit code', async () => {
    const { engineExec } = await import('../../lib/engine-api.ts')
    expect(await engineExec('bot-bottle-x', ['sh', '-c', 'true'], 'root')).toEqual({ exitCode: 3, stdout: 'line one\ncafé\n', stderr: 'a warning\n' })
    expect(requests.slice(-3)).toEqual(['POST /containers/bot-bottle-x/exec', 'POST /exec/e1/start', 'GET /exec/e1/json'])
  })
})
