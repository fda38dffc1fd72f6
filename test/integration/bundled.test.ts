// The one-file tasks: `npm run build` bundles each task into dist/<task>.mjs, which runs with plain
// node and no node_modules. Copied out of the repository, as a user would copy one into theirs.
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { BASE_IMAGE, ROOT, Sandbox, docker } from '../helpers.ts'

const TASKS = readdirSync(join(ROOT, 'tasks')).map((file) => file.replace(/\.ts$/, ''))
let elsewhere: string
let sandbox: Sandbox

beforeAll(async () => {
  await execa('npm', ['run', '--silent', 'build'], { cwd: ROOT })
  elsewhere = mkdtempSync(join(tmpdir(), 'other-repo-'))
  for (const task of TASKS) copyFileSync(join(ROOT, 'dist', `${task}.mjs`), join(elsewhere, `${task}.mjs`))
})
afterAll(() => rmSync(elsewhere, { recursive: true, force: true }))
beforeEach(() => {
  sandbox = new Sandbox()
})
afterEach(async () => {
  await sandbox.dispose()
})

/** Run a copied bundle from a directory with no node_modules anywhere above it. */
const bundled = async (task: string, args: string[]) => {
  const result = await execa(process.execPath, [join(elsewhere, `${task}.mjs`), ...args], { cwd: elsewhere, env: sandbox.env(), reject: false })
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr }
}

describe('bundled tasks (dist/*.mjs)', () => {
  it('exist for every task and answer --help with examples', async () => {
    expect(TASKS).toEqual(expect.arrayContaining(['start', 'list', 'commit', 'resume', 'prune', 'fork', 'export', 'import', 'cleanup']))
    for (const task of TASKS) {
      const help = await bundled(task, ['--help'])
      expect(help.exitCode, task).toBe(0)
      expect(help.stdout, task).toMatch(/Usage: .*\n[\s\S]*Examples:\n {2}\S/)
    }
  })

  it('run the lifecycle from a copy outside the repository', async () => {
    const started = await bundled('start', ['--agent', 'dist', '--image', BASE_IMAGE])
    expect(started.exitCode, started.stderr).toBe(0)
    const slug = sandbox.track(started.stdout.trim())
    await docker('exec', `bot-bottle-${slug}`, 'sh', '-c', 'echo bundled > /root/b.txt')
    expect((await bundled('commit', [slug])).exitCode).toBe(0)
    const listed = JSON.parse((await bundled('list', ['--json'])).stdout)
    expect(listed).toContainEqual(expect.objectContaining({ slug, status: 'running', snapshot: `bot-bottle-committed-${slug}:latest` }))
    expect((await bundled('cleanup', [slug])).exitCode).toBe(0)
    expect((await bundled('resume', [slug])).exitCode).toBe(0)
    expect(await docker('exec', `bot-bottle-${slug}`, 'cat', '/root/b.txt')).toBe('bundled')
    const bad = await bundled('commit', ['../x'])
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr.trim()).toMatch(/^commit: invalid slug "\.\.\/x"/)
  })
})
