// Lanes: the test files that use one engine run one at a time, while files of the other engine run
// beside them. One at a time because files look at an engine as a whole (the images on the other
// host before and after a refused import, the temporary registries a commit left, the engine's
// events); side by side because the engines are separate daemons with their own "other host".
//
// Vitest limits workers per group of projects, not per project, so the limit is a lock: a server
// in vitest's main process (global setup) grants a lane to one test file at a time, in the order
// the files asked. A file asks in the setup file's first beforeAll and gives the lane back in its
// last afterAll, or by exiting (the connection closes). A request may name several lanes: it gets
// them all at once, so two requests never wait for each other.
import { connect, createServer, type Socket } from 'node:net'
import { rmSync } from 'node:fs'

/**
 * The lanes: one per engine under test (TEST_ENGINE), each with the engines it owns: `default` the
 * default engine and engine B, `current` engine 29 and engine C.
 */
export type Lane = 'default' | 'current'

/** The lane of the engine this worker tests. */
export const laneOfThisWorker = (): Lane => (process.env.TEST_ENGINE === 'current' ? 'current' : 'default')

/** The lanes the running test file needs: its engine's. */
export const lanesOfThisFile = (): Lane[] => [laneOfThisWorker()]

interface Waiter {
  socket: Socket
  lanes: Lane[]
  granted: boolean
}

/** Starts the lane server on a unix socket at `path`. */
export async function startLaneServer(path: string): Promise<{ stop: () => Promise<void> }> {
  rmSync(path, { force: true })
  // Arrival order: a waiter is granted when it is the first waiter of every lane it asked for.
  const waiters: Waiter[] = []
  const grant = () => {
    const held = new Set<Lane>()
    for (const waiter of waiters) {
      const free = waiter.lanes.every((lane) => !held.has(lane))
      if (free && !waiter.granted) {
        waiter.granted = true
        waiter.socket.write('go\n')
      }
      for (const lane of waiter.lanes) held.add(lane)
    }
  }
  const server = createServer((socket) => {
    let asked = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      asked += chunk
      if (!asked.endsWith('\n')) return
      const waiter: Waiter = { socket, lanes: asked.trim().split(/\s+/) as Lane[], granted: false }
      waiters.push(waiter)
      grant()
      if (!waiter.granted) socket.write('wait\n')
    })
    const leave = () => {
      const index = waiters.findIndex((waiter) => waiter.socket === socket)
      if (index >= 0) waiters.splice(index, 1)
      grant()
    }
    socket.on('close', leave)
    socket.on('error', leave)
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve))
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        for (const waiter of waiters) waiter.socket.destroy()
        server.close(() => resolve())
      }),
  }
}

/**
 * Waits until this process holds `lanes`; the returned function gives them back. `onWait` is called
 * when the server has queued the request behind another holder.
 */
export async function holdLanes(path: string, lanes: Lane[], onWait?: () => void): Promise<() => void> {
  const socket = connect(path)
  await new Promise<void>((resolve, reject) => {
    let answer = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      answer += chunk
      for (let end = answer.indexOf('\n'); end >= 0; end = answer.indexOf('\n')) {
        const line = answer.slice(0, end)
        answer = answer.slice(end + 1)
        if (line === 'wait') onWait?.()
        if (line === 'go') resolve()
      }
    })
    socket.once('error', reject)
    socket.once('close', () => reject(new Error(`the lane server at ${path} closed before granting ${lanes.join(' and ')}`)))
    socket.write(`${[...new Set(lanes)].join(' ')}\n`)
  })
  // A held lane must not keep the worker alive on its own, nor fail it when vitest's main process
  // goes first (the lane is given back either way).
  socket.unref()
  socket.on('error', () => {})
  return () => socket.end()
}
