// Bad input: exit 2, one line naming the bad value, nothing created or touched.
// Faults: exit 1, one line saying what is wrong and what to do.
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises'
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
  it('says so in one line when the engine is unreachable', async () => {
    const result = await sandbox.task('commit', ['dev-abcde'], { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } })
    // The slug is unknown too, but that is found without the engine: exit 2 first.
    expect(result.exitCode).toBe(2)
    const listed = await sandbox.task('list', [], { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } })
    expect(listed.exitCode).toBe(1)
    expect(expectOneLineError(listed)).toMatch(/Docker engine is not reachable: start Docker/)
  })

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
