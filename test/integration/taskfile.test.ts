// The Taskfile through the real go-task binary, as users run it.
import { existsSync, readdirSync } from 'node:fs'
import fc from 'fast-check'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ROOT, Sandbox, docker } from '../helpers.ts'

const hasTask = (await execa('task', ['--version'], { reject: false }).catch(() => ({ exitCode: 1 }))).exitCode === 0

let sandbox: Sandbox
beforeEach(() => {
  sandbox = new Sandbox()
})
afterEach(async () => {
  await sandbox.dispose()
})

const task = (...args: string[]) => execa('task', args, { cwd: ROOT, env: sandbox.env({ NO_COLOR: '1' }), reject: false })

describe.skipIf(!hasTask)('Taskfile via go-task', () => {
  it('lists every operation with its description', async () => {
    const listed = await task('--list')
    expect(listed.exitCode).toBe(0)
    for (const op of ['start', 'list', 'commit', 'resume', 'cleanup', 'demo', 'test']) expect(listed.stdout).toMatch(new RegExp(`\\* ${op}:`))
  })

  it('runs start, commit SLUG=..., cleanup and resume with flags after --', async () => {
    const started = await task('start', '--', '--agent', 'tf', '--image', 'debian:bookworm-slim')
    expect(started.exitCode, started.stderr).toBe(0)
    const slug = sandbox.track(started.stdout.trim().split('\n').pop()!)
    expect(slug).toMatch(/^tf-[a-z0-9]{5}$/)
    await docker('exec', `bot-bottle-${slug}`, 'sh', '-c', 'echo via-task > /root/t.txt')

    const committed = await task('commit', `SLUG=${slug}`)
    expect(committed.exitCode, committed.stderr).toBe(0)
    expect(existsSync(join(sandbox.home, 'state', slug, 'committed-image'))).toBe(true)

    const dry = await task('cleanup', `SLUG=${slug}`, '--', '--dry-run')
    expect(dry.exitCode).toBe(0)
    expect(dry.stdout).toContain(`would remove bottle ${slug}`)
    expect((await task('cleanup', `SLUG=${slug}`)).exitCode).toBe(0)
    expect((await task('resume', `SLUG=${slug}`)).exitCode).toBe(0)
    expect(await docker('exec', `bot-bottle-${slug}`, 'cat', '/root/t.txt')).toBe('via-task')
  })

  it('passes any SLUG full of shell metacharacters as one word (property-based), touching nothing', async () => {
    const marker = join(sandbox.home, 'pwned')
    const payload = fc.constantFrom(`; touch ${marker}`, `$(touch ${marker})`, `\`touch ${marker}\``, `' && touch ${marker} '`, `" && touch ${marker} "`, `| touch ${marker}`, `\n touch ${marker}`, '{{.SLUG}}', '$HOME', '*', '~')
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 6 }), payload, fc.string({ maxLength: 6 }), async (before, injected, after) => {
        const slug = `${before}${injected}${after}`
        const result = await task('commit', `SLUG=${slug}`)
        expect(result.exitCode).not.toBe(0)
        expect(existsSync(marker)).toBe(false)
        expect(readdirSync(sandbox.home)).toEqual([])
      }),
      { numRuns: 15 },
    )
  })

  it('passes a SLUG full of shell metacharacters as one word, refused as a bad slug', async () => {
    const marker = join(sandbox.home, 'pwned')
    for (const slug of [`x; touch ${marker}`, `$(touch ${marker})`, `\`touch ${marker}\``, `x' && touch ${marker} '`]) {
      const result = await task('commit', `SLUG=${slug}`)
      expect(result.exitCode, result.stderr).not.toBe(0)
      // One word all the way to the script: the whole value is named as the bad slug.
      expect(result.stderr).toContain(`invalid slug ${JSON.stringify(slug)}`)
      expect(existsSync(marker)).toBe(false)
    }
  })
})
