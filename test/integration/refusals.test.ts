// Bad input and faults that only the engine's answer reveals, on every engine: a bottle that is not
// running, the running bottles a missing SLUG could mean, a corrupt state dir beside running ones, a
// docker CLI missing while the engine answers. (What is found before any engine is asked is in
// bad-input.test.ts.) Bad input: exit 2, one line naming it; faults: exit 1, one line; nothing touched.
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { execa } from 'execa'
import { Sandbox, docker, expectOneLineError } from '../helpers.ts'

let sandbox: Sandbox
beforeEach(() => {
  sandbox = new Sandbox()
})
afterEach(async () => {
  await sandbox.dispose()
})

describe('broken and stopped bottles', () => {
  it('names a corrupt metadata.json and leaves it as it was', async () => {
    const cases = ['{not json', JSON.stringify({ identity: 5, agent_name: 'x' }), JSON.stringify({ identity: 'x', agent_name: 'x', backend: 'kvm' }), '[]']
    for (const [i, content] of cases.entries()) {
      const slug = sandbox.slug('bad')
      const file = join(sandbox.home, 'state', slug, 'metadata.json')
      await mkdir(dirname(file), { recursive: true })
      await writeFile(file, content)
      for (const task of ['commit', 'resume']) {
        const result = await sandbox.task(task, [slug])
        expect(result.exitCode, `case ${i} ${task}: ${result.stderr}`).toBe(2)
        expect(expectOneLineError(result)).toContain(file)
        expect(await readFile(file, 'utf8')).toBe(content)
      }
      const listed = await sandbox.task('list', ['--json'])
      expect(listed.exitCode).toBe(0)
      expect(JSON.parse(listed.stdout)).toContainEqual(expect.objectContaining({ slug, problem: expect.stringContaining(file) }))
    }
  })

  it('refuses to commit a bottle that is not running', async () => {
    const slug = await sandbox.start()
    await docker('stop', '-t', '0', `bot-bottle-${slug}`)
    const result = await sandbox.task('commit', [slug])
    expect(result.exitCode).toBe(1)
    expect(expectOneLineError(result)).toContain('is not running')
    expect(existsSync(join(sandbox.home, 'state', slug, 'committed-image'))).toBe(false)
  })
})

describe('no SLUG and no terminal', () => {
  it('exits 2 and lists the slugs it could have taken', async () => {
    const first = await sandbox.start()
    const second = await sandbox.start()
    const result = await sandbox.task('commit')
    expect(result.exitCode).toBe(2)
    const line = expectOneLineError(result)
    expect(line).toContain(first)
    expect(line).toContain(second)
  })
})

describe('faults', () => {
  it('says so in one line when docker is not on PATH', async () => {
    // Reads go to the engine's socket without the CLI (list works); a commit runs `docker exec`.
    const slug = await sandbox.start()
    const bin = join(sandbox.home, 'bin')
    await mkdir(bin)
    for (const tool of ['node', 'bash', 'sh']) {
      const { stdout } = await execa('bash', ['-c', `command -v ${tool}`])
      await symlink(stdout.trim(), join(bin, tool))
    }
    const result = await sandbox.task('commit', [slug], { env: { PATH: bin } })
    expect(result.exitCode).toBe(1)
    expect(expectOneLineError(result)).toMatch(/^commit failed at ".*": "docker" is not on PATH: install it/)
    expect(existsSync(join(sandbox.home, 'state', slug, 'committed-image'))).toBe(false)
  })
})
