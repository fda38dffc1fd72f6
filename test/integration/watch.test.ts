// watch on a real engine: it commits only after a change (an added, changed or deleted file), prunes
// by its policy after each commit, waits while the bottle is not running, and stops cleanly on
// SIGTERM with the bottle's lock released. Driven by what watch says, never by timing: each step
// waits for the line that says the turn it needs has happened.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execa, type ResultPromise } from 'execa'
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest'
import { ROOT, Sandbox, TSX, docker, dockerOk, expectOneLineError } from '../helpers.ts'

let sandbox: Sandbox
let running: ResultPromise | undefined
beforeEach(() => {
  sandbox = new Sandbox()
})
afterEach(async () => {
  running?.kill('SIGKILL')
  await running?.catch(() => {})
  running = undefined
  await sandbox.dispose()
})

const inBottle = (slug: string, script: string) => docker('exec', `bot-bottle-${slug}`, 'sh', '-c', script)
const history = (slug: string): number[] => JSON.parse(readFileSync(join(sandbox.home, 'state', slug, 'snapshots.json'), 'utf8')).snapshots.map((entry: { n: number }) => entry.n)

/** watch as a user runs it, and its lines as they come: `next` waits for the next line (after the last one waited for) that matches. */
function watch(slug: string, args: string[]) {
  const child = execa(process.execPath, [TSX, join(ROOT, 'tasks', 'watch.ts'), slug, ...args], { cwd: ROOT, env: sandbox.env(), reject: false, buffer: true, stdin: 'ignore' })
  running = child
  const lines: string[] = []
  let cursor = 0
  let heard = () => {}
  const listen = (stream: NodeJS.ReadableStream, tag: string) => {
    let partial = ''
    stream.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n')
      partial = parts.pop()!
      lines.push(...parts.map((line) => `${tag}${line}`))
      heard()
    })
  }
  listen(child.stdout!, 'out: ')
  listen(child.stderr!, 'err: ')
  const next = (pattern: RegExp): Promise<string> =>
    new Promise((resolve, reject) => {
      const look = () => {
        const found = lines.slice(cursor).findIndex((line) => pattern.test(line))
        if (found !== -1) {
          cursor += found + 1
          return resolve(lines[cursor - 1]!)
        }
        if (child.exitCode !== null) reject(new Error(`watch ended before saying ${pattern}:\n${lines.join('\n')}`))
      }
      heard = look
      child.once('exit', look)
      // A guard, not a window: a turn takes a second or two; a minute without the line is a failure.
      setTimeout(() => reject(new Error(`watch did not say ${pattern} within a minute:\n${lines.join('\n')}`)), 60_000).unref()
      look()
    })
  /** Forget the lines so far: the next `next` looks only at lines said from now on. */
  const skip = () => {
    cursor = lines.length
  }
  return { child, next, skip, lines }
}

describe('watch', () => {
  it('commits only after a change, prunes by policy, waits for a stopped bottle, and stops on SIGTERM', async () => {
    const slug = await sandbox.start()
    await inBottle(slug, 'echo one > /root/version')
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)

    // A snapshot with no file list (committed by an older bottle-tasks: its list removed here) and
    // no record of what differed from the image then: watch takes one to start from.
    rmSync(join(sandbox.home, 'state', slug, 'files', '1.json.gz'))
    const w = watch(slug, ['--every', '1s', '--keep-last', '2'])
    await w.next(/^err: .*snapshot 1 was not taken by watch .*: taking one to start from$/)
    expect(await w.next(/^out: /)).toBe(`out: Committed snapshot 2 of ${slug} (bot-bottle-committed-${slug}:2)`)
    await w.next(/^err: .*no change since snapshot 2$/)
    expect(history(slug)).toEqual([1, 2])

    await inBottle(slug, 'echo two > /root/version')
    expect(await w.next(/^out: /)).toBe(`out: Committed snapshot 3 of ${slug} (bot-bottle-committed-${slug}:3); pruned 1`)
    await w.next(/^err: .*no change since snapshot 3$/)
    expect(history(slug)).toEqual([2, 3])
    expect(await dockerOk('image', 'inspect', `bot-bottle-committed-${slug}:1`)).toBe(false)

    // A deletion alone is a change (here the bottle then differs from its image in nothing at all).
    await inBottle(slug, 'rm /root/version')
    expect(await w.next(/^out: /)).toBe(`out: Committed snapshot 4 of ${slug} (bot-bottle-committed-${slug}:4); pruned 2`)
    await w.next(/^err: .*no change since snapshot 4$/)
    expect(history(slug)).toEqual([3, 4])

    // What the exclusions keep out is no change: two turns that began after the write commit nothing.
    writeFileSync(join(sandbox.home, 'state', slug, 'exclude'), '/root/.cache\n')
    await inBottle(slug, 'mkdir -p /root/.cache && echo churn > /root/.cache/blob')
    w.skip()
    await w.next(/^err: .*no change since snapshot 4$/)
    await w.next(/^err: .*no change since snapshot 4$/)

    // The bottle stops: watch waits, and commits again once it runs and changes.
    await docker('kill', `bot-bottle-${slug}`)
    await w.next(/^err: .*is stopped: waiting for it to run again$/)
    await docker('start', `bot-bottle-${slug}`)
    await inBottle(slug, 'echo five > /root/version')
    expect(await w.next(/^out: /)).toMatch(new RegExp(`^out: Committed snapshot 5 of ${slug} .*; pruned 3$`))
    await w.next(/^err: .*no change since snapshot 5$/)

    w.child.kill('SIGTERM')
    const ended = await w.child
    expect(ended.exitCode, w.lines.join('\n')).toBe(0)
    await w.next(/^err: .*stopped$/)
    expect(existsSync(join(sandbox.home, 'locks', `${slug}.lock`))).toBe(false)

    // Each snapshot is what the bottle held when it was taken.
    expect(history(slug)).toEqual([4, 5])
    expect(await docker('run', '--rm', `bot-bottle-committed-${slug}:4`, 'sh', '-c', 'test ! -e /root/version && echo gone')).toBe('gone')
    expect(await docker('run', '--rm', `bot-bottle-committed-${slug}:5`, 'cat', '/root/version')).toBe('five')
    const list = await sandbox.task('list', [slug])
    expect(list.stdout).toMatch(/^5\*\s.*\swatch$/m)

    // --once looks once: nothing changed, nothing made; a change, one snapshot.
    const quiet = await sandbox.task('watch', [slug, '--once'])
    expect(quiet.exitCode, quiet.stderr).toBe(0)
    expect(quiet.stderr).toContain('no change since snapshot 5')
    await inBottle(slug, 'echo six > /root/version')
    const once = await sandbox.task('watch', [slug, '--once', '--json'])
    expect(once.exitCode, once.stderr).toBe(0)
    expect(JSON.parse(once.stdout)).toEqual({ slug, n: 6, ref: `bot-bottle-committed-${slug}:6`, pruned: [] })
    expect(history(slug)).toEqual([4, 5, 6])
  })

  it('waits for an engine that restarts, and commits again once the bottle runs', async () => {
    // On "another host" (engine B; C on the current engine's lane): only this file uses it while it runs.
    const restart = inject('engineBRestart')
    if (!restart) throw new Error('engine B was given from outside (BOTTLE_TASKS_ENGINE_B/C with no pid file in BOTTLE_TASKS_CI_DIR): this test stops and starts it, so .ci/run or these tests must have started it')
    const onB = { DOCKER_HOST: inject('engineB') }
    await sandbox.dispose()
    sandbox = new Sandbox(onB)
    const engineScript = (...args: string[]) => execa('bash', [join(ROOT, 'scripts/ci/ensure-second-engine.sh'), restart.name, ...args], { env: { ...process.env, BOTTLE_TASKS_CI_DIR: restart.ciDir } })
    const onEngine = (...args: string[]) => execa('docker', args, { env: { ...process.env, ...onB } }).then((result) => result.stdout.trim())
    const slug = await sandbox.start()
    const w = watch(slug, ['--every', '1s'])
    expect(await w.next(/^out: /)).toBe(`out: Committed snapshot 1 of ${slug} (bot-bottle-committed-${slug}:1)`)
    await w.next(/^err: .*no change since snapshot 1$/)

    await engineScript('stop')
    await w.next(/^err: .*cannot look at .*: waiting$/)
    await engineScript()
    // The engine is back; its containers are not (no restart policy): watch waits for the bottle.
    await w.next(/^err: .*is stopped: waiting for it to run again$/)
    await onEngine('start', `bot-bottle-${slug}`)
    await onEngine('exec', `bot-bottle-${slug}`, 'sh', '-c', 'echo after > /root/restart')
    expect(await w.next(/^out: /)).toBe(`out: Committed snapshot 2 of ${slug} (bot-bottle-committed-${slug}:2)`)
    w.child.kill('SIGTERM')
    expect((await w.child).exitCode, w.lines.join('\n')).toBe(0)
    expect(await onEngine('run', '--rm', `bot-bottle-committed-${slug}:2`, 'cat', '/root/restart')).toBe('after')
  })

  it('refuses bad input before it looks at anything', async () => {
    const slug = await sandbox.start()
    for (const args of [[], ['--every', '1s', '--once'], ['--every', '0s'], ['--every', '10x'], ['--every', '500'], ['--once', '--keep-daily', '0']]) {
      const refused = await sandbox.task('watch', [slug, ...args])
      expect(refused.exitCode, args.join(' ')).toBe(2)
      expect(expectOneLineError(refused)).toMatch(/--every|--once|--keep/)
    }
    expect(existsSync(join(sandbox.home, 'state', slug, 'snapshots.json'))).toBe(false)
  })
})
