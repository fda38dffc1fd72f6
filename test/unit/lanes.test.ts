// The lane server of the test run (test/lanes.ts): one holder per lane, in the order asked; a file
// that needs two lanes gets both at once; a lane comes back when its holder gives it back or goes.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { holdLanes, startLaneServer, type Lane } from '../lanes.ts'

let dir: string
let path: string
let server: { stop: () => Promise<void> }
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bottle-tasks-lanes-'))
  path = join(dir, 'lanes.sock')
  server = await startLaneServer(path)
})
afterEach(async () => {
  await server.stop()
  rmSync(dir, { recursive: true, force: true })
})

/**
 * Asks for `lanes`. `answered` settles once the server has answered, "go" or "wait"; so each
 * request is in the server's queue before the next one is made, and what it answered is final.
 */
function ask(lanes: Lane[]) {
  let waited!: () => void
  const queued = new Promise<'wait'>((resolve) => (waited = () => resolve('wait')))
  const granted = holdLanes(path, lanes, waited)
  const answered = Promise.race([queued, granted.then(() => 'go' as const)])
  return { answered, granted }
}

describe('the lane server', () => {
  it('grants a lane to one holder at a time, in the order asked, and the other lane beside it', async () => {
    const first = ask(['default'])
    expect(await first.answered).toBe('go')
    const second = ask(['default'])
    expect(await second.answered).toBe('wait')
    const current = ask(['current'])
    expect(await current.answered).toBe('go')
    const third = ask(['default'])
    expect(await third.answered).toBe('wait')
    // Given back: the next in line gets it, and only that one.
    ;(await first.granted)()
    ;(await second.granted)()
    await third.granted
    ;(await third.granted)()
    ;(await current.granted)()
  })

  it('grants two lanes at once, never one while the other is held, and lets no later request pass it', async () => {
    const current = ask(['current'])
    expect(await current.answered).toBe('go')
    const both = ask(['default', 'current'])
    expect(await both.answered).toBe('wait')
    // The default lane is free, but `both` asked for it first.
    const later = ask(['default'])
    expect(await later.answered).toBe('wait')
    ;(await current.granted)()
    ;(await both.granted)()
    ;(await later.granted)()
  })

  it('takes a lane back when its holder goes without giving it back', async () => {
    const gone = ask(['default'])
    expect(await gone.answered).toBe('go')
    const next = ask(['default'])
    expect(await next.answered).toBe('wait')
    // What a worker's exit does to its connection.
    ;(await gone.granted)()
    ;(await next.granted)()
  })
})
