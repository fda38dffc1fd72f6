// One operation at a time per bottle: a second one waits briefly, then says who holds the bottle;
// a lock left by a killed process is recovered. No clocks: what the second process reports, and
// a lock made stale by its mtime.
import { existsSync, mkdirSync, readdirSync, utimesSync } from 'node:fs'
import { join } from 'node:path'
import lockfile from 'proper-lockfile'
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
    const target = join(sandbox.home, 'locks', slug)
    mkdirSync(join(sandbox.home, 'locks'), { recursive: true })
    // Another operation, as proper-lockfile sees one: this test process holds the lock.
    const release = await lockfile.lock(target, { realpath: false, stale: 10_000, update: 5_000 })
    try {
      const blocked = await sandbox.task('commit', [slug])
      expect(blocked.exitCode).toBe(1)
      expect(expectOneLineError(blocked)).toBe(`commit failed: another operation holds bottle "${slug}" (lock ${target}.lock): try again when it has finished`)
      // It gave up without doing anything: no snapshot, no history.
      expect(readdirSync(join(sandbox.home, 'state', slug)).sort()).toEqual(['metadata.json'])
      for (const task of ['resume', 'cleanup']) {
        const result = await sandbox.task(task, [slug])
        expect(result.exitCode, task).toBe(1)
        expect(expectOneLineError(result), task).toContain(`another operation holds bottle "${slug}"`)
      }
      expect(await docker('inspect', '--format', '{{.State.Running}}', `bot-bottle-${slug}`)).toBe('true')
    } finally {
      await release()
    }
    const free = await sandbox.task('commit', [slug])
    expect(free.exitCode, free.stderr).toBe(0)
  })

  it('recovers a stale lock left by a killed process', async () => {
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
