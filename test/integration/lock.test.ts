// One operation at a time per bottle: a second one waits briefly, then says who holds the bottle;
// a lock left by a killed process is recovered. No clocks: what the second process reports, a
// holder that is dead, and a lock without an owner made stale by its mtime.
import { existsSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Sandbox, docker, expectOneLineError } from '../helpers.ts'

let sandbox: Sandbox
beforeEach(() => {
  sandbox = new Sandbox()
})
afterEach(async () => {
  await sandbox.dispose()
})

describe('per-bottle lock', () => {
  it('makes a second operation on a busy bottle give up with a message, and lets it run once free', async () => {
    const slug = await sandbox.start()
    const lockDir = join(sandbox.home, 'locks', `${slug}.lock`)
    // Another operation: this test process holds the lock, as a task would.
    mkdirSync(lockDir, { recursive: true })
    writeFileSync(join(lockDir, 'owner'), `${process.pid} ${hostname()}\n`)
    try {
      const blocked = await sandbox.task('commit', [slug])
      expect(blocked.exitCode).toBe(1)
      expect(expectOneLineError(blocked)).toBe(`commit failed: another operation holds bottle "${slug}" (lock ${lockDir}): try again when it has finished`)
      // It gave up without doing anything: no snapshot, no history.
      expect(readdirSync(join(sandbox.home, 'state', slug)).sort()).toEqual(['metadata.json'])
      for (const task of ['resume', 'cleanup']) {
        const result = await sandbox.task(task, [slug])
        expect(result.exitCode, task).toBe(1)
        expect(expectOneLineError(result), task).toContain(`another operation holds bottle "${slug}"`)
      }
      expect(await docker('inspect', '--format', '{{.State.Running}}', `bot-bottle-${slug}`)).toBe('true')
      // Still this process's lock: the others gave up without touching it.
      expect(readdirSync(lockDir)).toEqual(['owner'])
    } finally {
      rmSync(lockDir, { recursive: true, force: true })
    }
    const free = await sandbox.task('commit', [slug])
    expect(free.exitCode, free.stderr).toBe(0)
  })

  it('takes over at once a lock whose holder has died', async () => {
    const slug = await sandbox.start()
    const lockDir = join(sandbox.home, 'locks', `${slug}.lock`)
    // A holder that has exited (and been reaped): its pid names no process now.
    const holder = await execa(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'])
    mkdirSync(lockDir, { recursive: true })
    writeFileSync(join(lockDir, 'owner'), `${holder.stdout} ${hostname()}\n`)
    const committed = await sandbox.task('commit', [slug])
    expect(committed.exitCode, committed.stderr).toBe(0)
    expect(existsSync(lockDir)).toBe(false)
  })

  it('leaves alone a lock held on another host, however old', async () => {
    const slug = await sandbox.start()
    const lockDir = join(sandbox.home, 'locks', `${slug}.lock`)
    mkdirSync(lockDir, { recursive: true })
    // Its pid means nothing here: only that host can tell whether the holder lives.
    writeFileSync(join(lockDir, 'owner'), `${process.pid} not-${hostname()}\n`)
    utimesSync(lockDir, 1e9, 1e9)
    const blocked = await sandbox.task('commit', [slug])
    expect(blocked.exitCode).toBe(1)
    expect(expectOneLineError(blocked)).toContain(`another operation holds bottle "${slug}"`)
    expect(existsSync(lockDir)).toBe(true)
  })

  it('recovers an old lock without an owner (a holder killed before it wrote one, or an older bottle-tasks)', async () => {
    const slug = await sandbox.start()
    const lockDir = join(sandbox.home, 'locks', `${slug}.lock`)
    mkdirSync(lockDir, { recursive: true })
    // Not refreshed since 2001: whoever held it is long dead.
    utimesSync(lockDir, 1e9, 1e9)
    const committed = await sandbox.task('commit', [slug])
    expect(committed.exitCode, committed.stderr).toBe(0)
    expect(existsSync(join(sandbox.home, 'state', slug, 'committed-image'))).toBe(true)
    // Taken over, then released when the commit ended.
    expect(existsSync(lockDir)).toBe(false)
  })
})
