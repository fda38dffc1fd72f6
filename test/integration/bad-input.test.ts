// Bad input: exit 2, one line naming the bad value, nothing created or touched.
// Faults: exit 1, one line saying what is wrong and what to do.
// All of it found before any engine is asked: run once (vitest.config.ts); what needs the engine's
// answer is in refusals.test.ts.
import { readdir } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Sandbox, expectOneLineError } from '../helpers.ts'

let sandbox: Sandbox
beforeEach(() => {
  sandbox = new Sandbox()
})
afterEach(async () => {
  await sandbox.dispose()
})

const BAD_SLUGS = ['../etc', 'a/b', '..', 'Dev-abc12', '-rf', 'a b', 'x;touch /tmp/pwned', '$(id)', '', 'a'.repeat(64), 'dev..x', '.hidden', 'dev\nx']

async function treeOf(dir: string): Promise<string[]> {
  return existsSync(dir) ? (await readdir(dir, { recursive: true })).sort() : []
}

describe('bad slugs', () => {
  for (const task of ['commit', 'resume', 'cleanup']) {
    it(`${task} refuses each bad slug with exit 2 and touches nothing`, async () => {
      const before = await treeOf(sandbox.home)
      for (const slug of BAD_SLUGS) {
        // `--` so that a slug starting with `-` reaches the slug check instead of the flag parser.
        const result = await sandbox.task(task, ['--', slug])
        expect(result.exitCode, `${task} ${JSON.stringify(slug)}: ${result.stderr}`).toBe(2)
        const line = expectOneLineError(result)
        expect(line).toContain('invalid slug')
        expect(line).toContain(JSON.stringify(slug))
      }
      expect(await treeOf(sandbox.home)).toEqual(before)
      expect(existsSync('/tmp/pwned')).toBe(false)
    })
  }

  it('start refuses a bad agent name and creates no state', async () => {
    const result = await sandbox.task('start', ['--agent', '../x', '--image', 'debian:bookworm-slim'])
    expect(result.exitCode).toBe(2)
    expect(expectOneLineError(result)).toContain('invalid agent name "../x"')
    expect(await treeOf(sandbox.home)).toEqual([])
  })

  it('refuses an exclusion that is no path (empty, all of /, more than a line) and writes nothing', async () => {
    for (const pattern of ['', '/', '//', 'a\nb']) {
      const result = await sandbox.task('commit', ['dev-abcde', '--exclude', pattern])
      expect(result.exitCode, JSON.stringify(pattern)).toBe(2)
      expect(expectOneLineError(result)).toContain('give a path or glob in the bottle')
    }
    expect(await treeOf(sandbox.home)).toEqual([])
  })

  it('refuses unknown flags and extra arguments with exit 2', async () => {
    for (const args of [['--bogus'], ['-rf'], ['a-00001', 'b-00002']]) {
      const result = await sandbox.task('commit', args)
      expect(result.exitCode).toBe(2)
      expectOneLineError(result)
    }
  })
})

describe('unknown and broken bottles', () => {
  it('names an unknown bottle', async () => {
    for (const task of ['commit', 'resume']) {
      const result = await sandbox.task(task, ['nope-00000'])
      expect(result.exitCode).toBe(2)
      expect(expectOneLineError(result)).toContain('unknown bottle "nope-00000"')
    }
  })
})

describe('faults', () => {
  it('says so in one line when the engine is unreachable', async () => {
    const result = await sandbox.task('commit', ['dev-abcde'], { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } })
    // The slug is unknown too, but that is found without the engine: exit 2 first.
    expect(result.exitCode).toBe(2)
    const listed = await sandbox.task('list', [], { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } })
    expect(listed.exitCode).toBe(1)
    expect(expectOneLineError(listed)).toMatch(/Docker engine is not reachable: start Docker/)
  })
})
