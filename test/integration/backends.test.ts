// The macos-container and smolmachines backends through the same tasks, against emulators of
// their CLIs (test/emulators) that do the real work with Docker, a real registry and real packs.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest'
import { BASE_IMAGE, ROOT, Sandbox, docker, expectOneLineError } from '../helpers.ts'

const EMULATORS = join(ROOT, 'test', 'emulators')
const registryImage = inject('registryImage')
const engineB = inject('engineB')
const withEmulators = (extra: Record<string, string> = {}) => ({
  PATH: `${EMULATORS}:${process.env.PATH}`,
  BOTTLE_TASKS_REGISTRY_IMAGE: registryImage,
  ...extra,
})
const run = (command: string, args: string[], env: Record<string, string> = {}) => execa(command, args, { env: withEmulators(env), reject: false })

let sandbox: Sandbox
let files: string
beforeEach(() => {
  sandbox = new Sandbox(withEmulators())
  files = mkdtempSync(join(tmpdir(), 'bottle-tasks-backends-'))
})
afterEach(async () => {
  await sandbox.dispose()
  rmSync(files, { recursive: true, force: true })
})

const stateFile = (home: string, slug: string, file: string) => join(home, 'state', slug, file)
const registryLeftovers = async () =>
  (await docker('ps', '-aq', '--filter', 'label=bottle-tasks.ephemeral-registry')) + (await docker('network', 'ls', '-q', '--filter', 'label=bottle-tasks.ephemeral-registry'))

describe('macos-container', () => {
  const base = `bottle-tasks-test-apple:${process.pid}`
  beforeAll(async () => {
    // Settings a snapshot must carry over, none of them the defaults.
    // ...and a credential baked into the image, which must not be.
    const dockerfile = `FROM ${BASE_IMAGE}\nENV AGENT_MODE=careful API_KEY=baked-in-credential\nWORKDIR /home/node\nUSER node\nCMD ["bash", "-l"]\n`
    await execa('docker', ['build', '-q', '-t', base, '-'], { input: dockerfile, env: { DOCKER_BUILDKIT: '0' } })
  })
  afterAll(async () => {
    await execa('docker', ['image', 'rm', '-f', base], { reject: false })
  })
  const exec = async (slug: string, script: string, env: Record<string, string> = {}) =>
    (await run('container', ['exec', '--user', 'root', `bot-bottle-${slug}`, 'sh', '-c', script], env)).stdout.trim()
  afterEach(async () => {
    for (const slug of sandbox.tracked()) await run('container', ['delete', '--force', `bot-bottle-${slug}`])
  })

  it('commits a running container by exec-tar, keeps its settings, and resumes it with the work intact', async () => {
    const started = await sandbox.task('start', ['--agent', 'mac', '--image', base, '--backend', 'macos-container'])
    expect(started.exitCode, started.stderr).toBe(0)
    const slug = sandbox.track(started.stdout.trim())
    await exec(slug, 'echo mac-work > /home/node/work.txt')

    const committed = await sandbox.task('commit', [slug])
    expect(committed.exitCode, committed.stderr).toBe(0)
    const listed = JSON.parse((await run('container', ['list', '--format', 'json'])).stdout)
    expect(listed.find((entry: { id?: string }) => entry.id === `bot-bottle-${slug}`)?.status.state).toBe('running')
    const snapshot = `bot-bottle-committed-${slug}:latest`
    expect(readFileSync(stateFile(sandbox.home, slug, 'committed-image'), 'utf8').trim()).toBe(snapshot)
    const config = JSON.parse(await docker('image', 'inspect', '--format', '{{json .Config}}', snapshot))
    expect(config).toMatchObject({ User: 'node', WorkingDir: '/home/node', Cmd: ['bash', '-l'] })
    expect(config.Env).toContain('AGENT_MODE=careful')
    expect(config.Labels['bot-bottle.slug']).toBe(slug)
    expect(config.Labels['bot-bottle.secret-env']).toBe('API_KEY')
    const saved = await execa('sh', ['-c', `docker save ${snapshot} | grep -a -c baked-in-credential`], { reject: false })
    expect(saved.stdout.trim()).toBe('0')

    expect((await sandbox.task('cleanup', [slug])).exitCode).toBe(0)
    expect((await run('container', ['list', '--all', '--format', 'json'])).stdout).not.toContain(`bot-bottle-${slug}`)
    const resumed = await sandbox.task('resume', [slug, '--json'], { env: { API_KEY: 'supplied-again' } })
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect(JSON.parse(resumed.stdout)).toMatchObject({ how: 'snapshot', source: snapshot })
    expect(await exec(slug, 'cat /home/node/work.txt; stat -c %a /tmp /var/tmp; echo "$API_KEY"')).toBe('mac-work\n1777\n1777\nsupplied-again')
  })

  it('forks a committed container into a new running one', async () => {
    const started = await sandbox.task('start', ['--agent', 'mac', '--image', base, '--backend', 'macos-container'])
    const slug = sandbox.track(started.stdout.trim())
    await exec(slug, 'echo branch-point > /home/node/b.txt')
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
    const fork = sandbox.slug('macfork')
    const forked = await sandbox.task('fork', [slug, '--as', fork])
    expect(forked.exitCode, forked.stderr).toBe(0)
    expect(await exec(fork, 'cat /home/node/b.txt')).toBe('branch-point')
    expect(readFileSync(stateFile(sandbox.home, fork, 'committed-image'), 'utf8').trim()).toBe(`bot-bottle-committed-${fork}:latest`)
  })

  it('exports what `container image save` writes and imports it with `container image load` on another engine', async () => {
    const started = await sandbox.task('start', ['--agent', 'mac', '--image', base, '--backend', 'macos-container'])
    const slug = sandbox.track(started.stdout.trim())
    await exec(slug, 'echo moved > /home/node/moved.txt')
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
    const bundle = join(files, 'mac.bottle')
    const exported = await sandbox.task('export', [slug, '--output', bundle])
    expect(exported.exitCode, exported.stderr).toBe(0)

    const hostB = new Sandbox(withEmulators({ DOCKER_HOST: engineB }))
    hostB.track(slug)
    try {
      const imported = await hostB.task('import', [bundle])
      expect(imported.exitCode, imported.stderr).toBe(0)
      const resumed = await hostB.task('resume', [slug])
      expect(resumed.exitCode, resumed.stderr).toBe(0)
      expect(await exec(slug, 'cat /home/node/moved.txt', { DOCKER_HOST: engineB })).toBe('moved')
    } finally {
      await run('container', ['delete', '--force', `bot-bottle-${slug}`], { DOCKER_HOST: engineB })
      await hostB.dispose()
    }
  })
})

describe('smolmachines', () => {
  const vmExec = async (slug: string, script: string, env: Record<string, string> = {}) =>
    (await run('smolvm', ['machine', 'exec', '--name', `bot-bottle-${slug}`, '--', 'sh', '-c', script], env)).stdout.trim()
  const startVm = async (box = sandbox) => {
    const started = await box.task('start', ['--agent', 'smol', '--image', BASE_IMAGE, '--backend', 'smolmachines'])
    expect(started.exitCode, started.stderr).toBe(0)
    return box.track(started.stdout.trim())
  }
  afterEach(async () => {
    for (const slug of sandbox.tracked()) await run('smolvm', ['machine', 'delete', '--name', `bot-bottle-${slug}`, '-f'])
  })

  it('commits a running VM through the full pipeline, leaves no registry behind, and resumes without temp dirs', async () => {
    const slug = await startVm()
    await vmExec(slug, 'echo vm-work > /home/node/work.txt && chown node:node /home/node/work.txt && echo t > /tmp/t.txt && echo v > /var/tmp/v.txt')

    const committed = await sandbox.task('commit', [slug])
    expect(committed.exitCode, committed.stderr).toBe(0)
    for (const step of ['Check that the VM answers exec', 'Write a gzip tar of / inside the VM', 'Copy the archive out of the VM', 'Remove the archive from the VM', 'Build the image FROM scratch', 'Save the image', 'Start a temporary registry', 'Push the image', 'Pack the smolmachine', 'Remove the temporary registry', 'Record the snapshot']) {
      expect(committed.stderr).toContain(step)
    }
    expect(await vmExec(slug, 'test -e /var/tmp/.bot-bottle-commit.tar.gz && echo left || echo removed')).toBe('removed')
    const machines = JSON.parse((await run('smolvm', ['machine', 'ls', '--json'])).stdout)
    expect(machines.find((machine: { name: string }) => machine.name === `bot-bottle-${slug}`)?.state).toBe('running')
    const artifact = readFileSync(stateFile(sandbox.home, slug, 'committed-image'), 'utf8').trim()
    expect(artifact).toBe(stateFile(sandbox.home, slug, 'committed-smolmachine.smolmachine'))
    expect(statSync(artifact).size).toBeGreaterThan(0)
    expect(await registryLeftovers()).toBe('')

    expect((await sandbox.task('cleanup', [slug])).exitCode).toBe(0)
    const resumed = await sandbox.task('resume', [slug, '--json'])
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect(JSON.parse(resumed.stdout)).toMatchObject({ how: 'snapshot', source: artifact })
    expect(await vmExec(slug, 'cat /home/node/work.txt')).toBe('vm-work')
    expect(await vmExec(slug, 'ls /tmp /var/tmp | grep -c -e t.txt -e v.txt; stat -c %a /tmp /var/tmp; stat -c %U /home/node/work.txt')).toBe('0\n1777\n1777\nnode')
  })

  it('boots a second VM from the cached pack without saving, pushing or packing again', async () => {
    await startVm()
    const since = String(Math.floor(Date.now() / 1000))
    const second = await sandbox.task('start', ['--agent', 'smol', '--image', BASE_IMAGE, '--backend', 'smolmachines', '--verbose'])
    expect(second.exitCode, second.stderr).toBe(0)
    sandbox.track(second.stdout.trim().split('\n').pop()!)
    const until = String(Math.floor(Date.now() / 1000) + 1)
    // Observed from outside: no registry container was created, and nothing was saved or pushed.
    const events = await docker('events', '--since', since, '--until', until, '--filter', 'type=container', '--filter', 'label=bottle-tasks.ephemeral-registry')
    expect(events).toBe('')
    expect(second.stderr).not.toMatch(/docker save|crane push|skopeo copy|pack create/)
  })

  it('removes the registry and keeps the previous snapshot when the push fails', async () => {
    const slug = await startVm()
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
    const artifact = readFileSync(stateFile(sandbox.home, slug, 'committed-image'), 'utf8').trim()
    const before = readFileSync(artifact)

    const fakes = join(files, 'bin')
    mkdirSync(fakes, { recursive: true })
    writeFileSync(join(fakes, 'crane'), '#!/bin/sh\necho "Error: PUT blob: connection reset by peer" >&2\nexit 1\n', { mode: 0o755 })
    const failed = await sandbox.task('commit', [slug], { env: { PATH: `${fakes}:${EMULATORS}:${process.env.PATH}` } })
    expect(failed.exitCode).toBe(1)
    expect(expectOneLineError(failed)).toBe('commit failed at "Push the image to it": crane: Error: PUT blob: connection reset by peer')
    expect(await registryLeftovers()).toBe('')
    expect(readFileSync(stateFile(sandbox.home, slug, 'committed-image'), 'utf8').trim()).toBe(artifact)
    expect(readFileSync(artifact).equals(before)).toBe(true)
    expect(existsSync(`${stateFile(sandbox.home, slug, 'committed-smolmachine')}.partial.smolmachine`)).toBe(false)
  })

  /** Start a commit and stop it with `signal` once its temporary registry exists. */
  async function interruptCommitAtRegistry(slug: string, signal: 'SIGTERM' | 'SIGKILL') {
    const committing = execa(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'tasks', 'commit.ts'), slug], { env: sandbox.env(), reject: false })
    const deadline = Date.now() + 60_000
    while (!(await docker('ps', '-aq', '--filter', 'label=bottle-tasks.ephemeral-registry')) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
    expect(await registryLeftovers()).not.toBe('')
    // SIGKILL must reach the process running the task (tsx runs it in a child): kill the whole group.
    if (signal === 'SIGKILL') await execa('pkill', ['-KILL', '-f', `tasks/commit.ts ${slug}`], { reject: false })
    else committing.kill(signal)
    return committing
  }

  it('on SIGTERM mid-commit removes the registry, the archive in the VM and scratch files, exits 130, keeps the snapshot', async () => {
    const slug = await startVm()
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
    const artifact = readFileSync(stateFile(sandbox.home, slug, 'committed-image'), 'utf8').trim()
    const before = statSync(artifact).mtimeMs
    const result = await interruptCommitAtRegistry(slug, 'SIGTERM')
    expect(result.exitCode).toBe(130)
    expect(await registryLeftovers()).toBe('')
    expect(await vmExec(slug, 'test -e /var/tmp/.bot-bottle-commit.tar.gz && echo left || echo removed')).toBe('removed')
    expect(existsSync(join(sandbox.home, 'tmp')) ? readdirSync(join(sandbox.home, 'tmp')) : []).toEqual([])
    expect(statSync(artifact).mtimeMs).toBe(before)
  })

  it('after kill -9 mid-commit, cleanup removes the leftovers and the bottle commits again', async () => {
    const slug = await startVm()
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
    await interruptCommitAtRegistry(slug, 'SIGKILL')
    expect(await registryLeftovers()).not.toBe('')
    expect(readdirSync(join(sandbox.home, 'tmp')).length).toBeGreaterThan(0)
    // The killed task's lock goes stale once it has not been refreshed for 10 s.
    await new Promise((resolve) => setTimeout(resolve, 9_000))
    const cleaned = await sandbox.task('cleanup')
    expect(cleaned.exitCode, cleaned.stderr).toBe(0)
    expect(cleaned.stdout).toMatch(/removed .*left by a crashed task/)
    expect(await registryLeftovers()).toBe('')
    expect(readdirSync(join(sandbox.home, 'tmp'))).toEqual([])
    expect((await sandbox.task('resume', [slug])).exitCode).toBe(0)
    const again = await sandbox.task('commit', [slug])
    expect(again.exitCode, again.stderr).toBe(0)
  })

  it('says clearly when smolvm refuses the probe exec', async () => {
    const slug = await startVm()
    const busy = `/tmp/smolvm-emulator-busy-bot-bottle-${slug}`
    writeFileSync(busy, '')
    try {
      const result = await sandbox.task('commit', [slug])
      expect(result.exitCode).toBe(1)
      expect(expectOneLineError(result)).toContain('smolvm may refuse a second exec while an interactive session runs')
      expect(existsSync(stateFile(sandbox.home, slug, 'committed-image'))).toBe(false)
    } finally {
      rmSync(busy, { force: true })
    }
  })

  it('forks a committed VM into a new running one with its own pack', async () => {
    const slug = await startVm()
    await vmExec(slug, 'echo branch-point > /home/node/b.txt')
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
    const fork = sandbox.slug('smolfork')
    const forked = await sandbox.task('fork', [slug, '--as', fork])
    expect(forked.exitCode, forked.stderr).toBe(0)
    expect(await vmExec(fork, 'cat /home/node/b.txt')).toBe('branch-point')
    const artifact = readFileSync(stateFile(sandbox.home, fork, 'committed-image'), 'utf8').trim()
    expect(artifact).toBe(stateFile(sandbox.home, fork, 'committed-smolmachine.smolmachine'))
    expect(existsSync(artifact)).toBe(true)
  })

  it('exports the .smolmachine, imports it on another engine and resumes there', async () => {
    const slug = await startVm()
    await vmExec(slug, 'echo travelled > /home/node/t.txt')
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
    const bundle = join(files, 'vm.bottle')
    expect((await sandbox.task('export', [slug, '--output', bundle])).exitCode).toBe(0)

    const hostB = new Sandbox(withEmulators({ DOCKER_HOST: engineB }))
    try {
      const imported = await hostB.task('import', [bundle])
      expect(imported.exitCode, imported.stderr).toBe(0)
      expect(readFileSync(stateFile(hostB.home, slug, 'committed-image'), 'utf8').trim()).toBe(stateFile(hostB.home, slug, 'committed-smolmachine.smolmachine'))
      const resumed = await hostB.task('resume', [slug])
      expect(resumed.exitCode, resumed.stderr).toBe(0)
      expect(await vmExec(slug, 'cat /home/node/t.txt', { DOCKER_HOST: engineB })).toBe('travelled')
    } finally {
      await run('smolvm', ['machine', 'delete', '--name', `bot-bottle-${slug}`, '-f'], { DOCKER_HOST: engineB })
      await hostB.dispose()
    }
  })
})
