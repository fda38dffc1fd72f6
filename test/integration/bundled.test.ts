// The one-file tasks: `npm run build` bundles each task into dist/<task>.mjs, which runs with plain
// node and no node_modules. Copied out of the repository, as a user would copy one into theirs.
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { BASE_IMAGE, ROOT, Sandbox, docker } from '../helpers.ts'

const TASKS = readdirSync(join(ROOT, 'tasks')).filter((file) => file.endsWith('.ts')).map((file) => file.replace(/\.ts$/, ''))
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
const bundled = async (task: string, args: string[], dir = elsewhere) => {
  const result = await execa(process.execPath, [join(dir, `${task}.mjs`), ...args], { cwd: dir, env: sandbox.env(), reject: false })
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr }
}

/** Nothing in `text` names go-task or the TypeScript scripts: the user ran a bundle with node. */
function expectNoOtherWayOfRunning(text: string): void {
  expect(text).not.toMatch(/\btask \w+ SLUG=|\btsx\b|tasks\/\w+\.ts/)
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
    const committed = await bundled('commit', [slug])
    expect(committed.exitCode, committed.stderr).toBe(0)
    expect(committed.stdout).toContain(`node resume.mjs ${slug}\n`)
    expectNoOtherWayOfRunning(committed.stdout)
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

describe('one bundle copied alone into another repository', () => {
  let alone: string
  beforeEach(() => {
    alone = mkdtempSync(join(tmpdir(), 'one-task-'))
    copyFileSync(join(ROOT, 'dist', 'commit.mjs'), join(alone, 'commit.mjs'))
  })
  afterEach(() => rmSync(alone, { recursive: true, force: true }))

  it('is executable, as every bundle is', () => {
    for (const task of TASKS) expect((statSync(join(ROOT, 'dist', `${task}.mjs`)).mode & 0o777).toString(8), task).toBe('755')
    expect(readFileSync(join(ROOT, 'dist', 'commit.mjs'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/)
  })

  it('answers --help and --version the way it was run', async () => {
    const help = await bundled('commit', ['--help'], alone)
    expect(help.exitCode).toBe(0)
    expect(help.stdout).toMatch(/^Usage: node commit\.mjs \[SLUG\]/m)
    expect(help.stdout).toMatch(/^Examples:\n {2}node commit\.mjs dev-abc12\n/m)
    expectNoOtherWayOfRunning(help.stdout)

    const version = await bundled('commit', ['--version'], alone)
    expect(version.exitCode).toBe(0)
    const { version: packageVersion } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    // Built in beforeAll from this checkout: its commit (", modified" when lib/ or tasks/ had changes).
    const head = (await execa('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT })).stdout.trim()
    expect(version.stdout).toMatch(new RegExp(`^commit ${packageVersion.replaceAll('.', '\\.')} \\(${head}(, modified)?\\)$`))
  })

  it('commits a bottle, and its hints are commands that run from there', async () => {
    const slug = await sandbox.start()
    await docker('exec', `bot-bottle-${slug}`, 'sh', '-c', 'echo alone > /root/alone.txt')
    const committed = await bundled('commit', [slug], alone)
    expect(committed.exitCode, committed.stderr).toBe(0)
    expect(await docker('image', 'inspect', '--format', '{{index .Config.Labels "bot-bottle.slug"}}', `bot-bottle-committed-${slug}:latest`)).toBe(slug)
    expectNoOtherWayOfRunning(committed.stdout)
    // resume.mjs is not there: the hint says where it comes from, and the command itself runs once it is.
    expect(committed.stdout).toMatch(/dist\//)
    expect(committed.stdout).toContain(`node resume.mjs ${slug}`)
    expect(committed.stdout).toContain(`node export.mjs ${slug} --output ${slug}.bottle`)
  })
})
