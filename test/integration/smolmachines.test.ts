// The smolmachines backend through the same tasks as the docker one, against the emulator of the
// smolvm CLI (test/emulators/smolvm), which does the real work with Docker, a real registry and
// real packs. The backend itself builds, saves and pushes with Docker: run on every engine.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest'
import { ROOT, Sandbox, docker, expectOneLineError } from '../helpers.ts'
import { EMULATORS, buildImage, stateFile, testImages, withEmulators as emulated } from '../emulated.ts'

/**
 * Images a smolmachines commit of `slug` left in the engine: its image under the commit's name, or
 * nameless (a later build took the name). The emulator's images of packs keep names of their own.
 */
const imagesOf = async (slug: string) =>
  (await Promise.all([docker('image', 'ls', '-q', `bot-bottle-committed-${slug}`), docker('image', 'ls', '-q', '--filter', 'dangling=true', '--filter', `label=bot-bottle.slug=${slug}`)])).join('')

const registryImage = inject('registryImage')
const engineB = inject('engineB')
const withEmulators = (extra: Record<string, string> = {}) => emulated(registryImage, extra)
const run = (command: string, args: string[], env: Record<string, string> = {}) => execa(command, args, { env: withEmulators(env), reject: false })

/** Temporary registries (containers and networks) in the engine. */
const registries = async () =>
  [...(await docker('ps', '-aq', '--no-trunc', '--filter', 'label=bottle-tasks.ephemeral-registry')).split('\n'), ...(await docker('network', 'ls', '-q', '--no-trunc', '--filter', 'label=bottle-tasks.ephemeral-registry')).split('\n')].filter(Boolean)

let sandbox: Sandbox
let files: string
/** The temporary registries there were before the test (another run's leftovers are not this test's). */
let registriesBefore: Set<string>
beforeEach(async () => {
  sandbox = new Sandbox(withEmulators())
  files = mkdtempSync(join(tmpdir(), 'bottle-tasks-smolmachines-'))
  registriesBefore = new Set(await registries())
})
afterEach(async () => {
  await sandbox.dispose()
  rmSync(files, { recursive: true, force: true })
})

/** Commit `slug`: its exit code, with what it said when that is not 0. */
const committedOk = async (slug: string) => {
  const committed = await sandbox.task('commit', [slug])
  expect(committed.exitCode, committed.stderr).toBe(0)
  return committed.exitCode
}

/** The temporary registries this test's tasks made and left. */
const registryLeftovers = async () => (await registries()).filter((id) => !registriesBefore.has(id)).join('\n')

describe.each(testImages(inject('agentImage')))('smolmachines on the $kind image', ({ kind, image, user, home }) => {
  // The bottles' image: the agent one runs as `node` (USER node), which is who smolvm 1.9 runs
  // `machine exec` as; the plain one has no such user at all.
  const base = `bottle-tasks-test-smol-${kind}:${process.pid}`
  const agentUser = user ?? 'root'
  let seedHome = ''
  beforeAll(async () => {
    const dockerfile = `FROM ${image}\n${user ? `WORKDIR ${home}\nUSER ${user}\n` : ''}`
    await buildImage(base, dockerfile)
    // One pack of the image for the tests that need a running bottle, not its packing.
    const seeding = new Sandbox(withEmulators())
    try {
      const started = await seeding.task('start', ['--agent', 'seed', '--image', base, '--backend', 'smolmachines'])
      expect(started.exitCode, started.stderr).toBe(0)
      seeding.track(started.stdout.trim())
      await run('smolvm', ['machine', 'delete', '--name', `bot-bottle-${started.stdout.trim()}`, '-f'])
      seedHome = mkdtempSync(join(tmpdir(), 'bottle-tasks-smol-seed-'))
      await execa('cp', ['-al', join(seeding.home, 'cache'), join(seedHome, 'cache')])
    } finally {
      await seeding.dispose()
    }
  })
  afterAll(async () => {
    await execa('docker', ['image', 'rm', '-f', base], { reject: false })
    if (seedHome) rmSync(seedHome, { recursive: true, force: true })
  })
  afterEach(async () => {
    for (const slug of sandbox.tracked()) await run('smolvm', ['machine', 'delete', '--name', `bot-bottle-${slug}`, '-f'])
  })

  const vmExec = async (slug: string, script: string, env: Record<string, string> = {}) =>
    (await run('smolvm', ['machine', 'exec', '--name', `bot-bottle-${slug}`, '--', 'sh', '-c', script], env)).stdout.trim()
  const machine = async (slug: string) => JSON.parse((await run('smolvm', ['machine', 'ls', '--json'])).stdout).find((entry: { name: string }) => entry.name === `bot-bottle-${slug}`)
  /** Start a bottle from the image's pack (copied from the one beforeAll made). */
  const startVm = async (box = sandbox, env: Record<string, string> = {}) => {
    await execa('cp', ['-al', join(seedHome, 'cache'), join(box.home, 'cache')])
    const started = await box.task('start', ['--agent', 'smol', '--image', base, '--backend', 'smolmachines'], { env })
    expect(started.exitCode, started.stderr).toBe(0)
    return box.track(started.stdout.trim())
  }
  /** The shell `resume --attach` opens, fed commands on stdin instead of a terminal. */
  const shellRuns = async (slug: string, commands: string) => {
    const { smolmachinesBackend } = await import('../../lib/backends/smolmachines.ts')
    const [command, ...args] = smolmachinesBackend.shellCommand(slug)
    return (await execa(command, args.filter((arg) => arg !== '-t'), { env: withEmulators(), input: commands, reject: false })).stdout.trim()
  }

  it.each(['keep', 'host'] as const)('commits a running VM through the full pipeline and resumes it, its agent owning its home (pack owners: %s)', async (owners) => {
    const env = { SMOLVM_EMULATOR_PACK_OWNERS: owners }
    const slug = await startVm(sandbox, env)
    // smolvm runs exec as the pack image's USER: bottle-tasks' packs run it as root, the agent's
    // shell as the agent.
    expect(await vmExec(slug, 'id -un')).toBe('root')
    expect(await shellRuns(slug, 'id -un; echo "$HOME"\n')).toBe(`${agentUser}\n${home}`)
    await vmExec(slug, `echo vm-work > ${home}/work.txt && chown ${agentUser}: ${home}/work.txt && echo t > /tmp/t.txt && echo v > /var/tmp/v.txt`)

    const committed = await sandbox.task('commit', [slug], { env })
    expect(committed.exitCode, committed.stderr).toBe(0)
    for (const step of ['Read how the VM runs', 'Write a gzip tar of / inside the VM', 'Copy the archive out of the VM', 'Remove the archive from the VM', 'Build the image FROM scratch', 'Save the image', 'Start a temporary registry', 'Push the image', 'Pack the smolmachine', 'Remove the temporary registry', 'Record the pack as the snapshot']) {
      expect(committed.stderr).toContain(step)
    }
    expect(await vmExec(slug, 'test -e /var/tmp/.bot-bottle-commit.tar.gz && echo left || echo removed')).toBe('removed')
    expect((await machine(slug))?.state).toBe('running')
    const artifact = readFileSync(stateFile(sandbox.home, slug, 'committed-image'), 'utf8').trim()
    expect(artifact).toBe(stateFile(sandbox.home, slug, 'committed-smolmachine.smolmachine'))
    expect(statSync(artifact).size).toBeGreaterThan(0)
    expect(await registryLeftovers()).toBe('')
    // The image that carried the archive to the pack is not left in the engine.
    expect(await imagesOf(slug)).toBe('')
    expect(JSON.parse(readFileSync(stateFile(sandbox.home, slug, 'run-config.json'), 'utf8')).run).toMatchObject({ backend: 'smolmachines', network: true, ...(user ? { user } : {}) })

    expect((await sandbox.task('cleanup', [slug], { env })).exitCode).toBe(0)
    const resumed = await sandbox.task('resume', [slug, '--json'], { env })
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect(JSON.parse(resumed.stdout)).toMatchObject({ how: 'snapshot', source: artifact })
    expect(await vmExec(slug, `cat ${home}/work.txt`)).toBe('vm-work')
    // The temp dirs come back empty, root's, 1777; the agent's home is the agent's again, also
    // where the pack gave every file to the host's user (owners: host).
    expect(await vmExec(slug, `ls -A /tmp /var/tmp | grep -c -e t.txt -e v.txt; stat -c '%a %U' /tmp /var/tmp; stat -c %U ${home} ${home}/work.txt`)).toBe(`0\n1777 root\n1777 root\n${agentUser}\n${agentUser}`)
    expect(await shellRuns(slug, 'id -un\n')).toBe(agentUser)
  })

  it('records how the VM runs and brings it back that way (no network stays without one), or refuses', async () => {
    const slug = await startVm()
    expect(await committedOk(slug)).toBe(0)
    // As a bottle that ran offline, with a host directory, a port, limits and a variable would
    // have been recorded.
    const shared = join(files, 'shared')
    mkdirSync(shared)
    writeFileSync(join(shared, 'from-host'), 'host file')
    const configFile = stateFile(sandbox.home, slug, 'run-config.json')
    const config = JSON.parse(readFileSync(configFile, 'utf8'))
    const ran = { ...config.run, network: false, cpus: 2, memoryMib: 1024, volumes: [{ host: shared, guest: '/mnt/shared', readOnly: true }], ports: ['18741:8080'], envNames: ['TASK_MODE'] }
    writeFileSync(configFile, JSON.stringify({ ...config, run: ran }))
    expect((await sandbox.task('cleanup', [slug])).exitCode).toBe(0)

    const resumed = await sandbox.task('resume', [slug], { env: { TASK_MODE: 'strict' } })
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect(await machine(slug)).toMatchObject({ network: false, cpus: 2, memory_mib: 1024, mounts: 1, ports: 1 })
    expect(await vmExec(slug, 'cat /mnt/shared/from-host')).toBe('host file')
    // The value went in on exec's stdin, for the agent's shell: not on smolvm's argv or in its
    // record, so a plain exec does not have it. Resume names it, and only by name.
    expect(resumed.stderr).toContain("handed in from this host's environment: TASK_MODE")
    expect(await shellRuns(slug, 'echo "$TASK_MODE"\n')).toBe('strict')
    expect(await vmExec(slug, 'echo "${TASK_MODE-unset}"')).toBe('unset')
    // Recorded again from the VM itself: the same.
    expect(await committedOk(slug)).toBe(0)
    expect(JSON.parse(readFileSync(configFile, 'utf8')).run).toMatchObject(ran)

    // A host directory gone: refused, one line, nothing booted; booted without it when relaxed.
    expect((await sandbox.task('cleanup', [slug])).exitCode).toBe(0)
    rmSync(shared, { recursive: true })
    const refused = await sandbox.task('resume', [slug])
    expect(refused.exitCode).toBe(1)
    expect(expectOneLineError(refused)).toContain(`host path ${shared} mounted at /mnt/shared does not exist on this host`)
    expect(await machine(slug)).toBeUndefined()
    const relaxed = await sandbox.task('resume', [slug, '--relax', 'binds', '--json'])
    expect(relaxed.exitCode, relaxed.stderr).toBe(0)
    expect(JSON.parse(relaxed.stdout).relaxed).toEqual([`binds: host path ${shared} mounted at /mnt/shared does not exist on this host`])
    expect(await machine(slug)).toMatchObject({ network: false, mounts: 0 })
  })

  it('packs the image again rather than reuse a pack an older bottle-tasks made (pack format 1 ran as the image USER)', async () => {
    // The seeded pack, where bottle-tasks kept packs before their format was in the path.
    const unversioned = join(sandbox.home, 'cache', 'smolmachines')
    mkdirSync(unversioned, { recursive: true })
    // `${dir}/.`, not join(dir, '.'): join drops the '.', and cp would copy v2 itself.
    await execa('cp', ['-al', `${join(seedHome, 'cache', 'smolmachines', 'v2')}/.`, unversioned])
    expect(readdirSync(unversioned)).not.toContain('v2')
    const started = await sandbox.task('start', ['--agent', 'smol', '--image', base, '--backend', 'smolmachines', '--verbose'])
    expect(started.exitCode, started.stderr).toBe(0)
    sandbox.track(started.stdout.trim())
    expect(started.stderr).toMatch(/pack create/)
    expect(readdirSync(join(unversioned, 'v2'))).toHaveLength(1)
  })

  it('boots a bottle without a snapshot from the cached pack, saying so, without saving, pushing or packing again', async () => {
    const slug = await startVm()
    // The VM goes, the state stays: resume rebuilds from the image, whose pack is cached.
    expect((await run('smolvm', ['machine', 'delete', '--name', `bot-bottle-${slug}`, '-f'])).exitCode).toBe(0)
    const since = String(Math.floor(Date.now() / 1000))
    const resumed = await sandbox.task('resume', [slug, '--verbose'])
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    const until = String(Math.floor(Date.now() / 1000) + 1)
    expect(resumed.stderr).toMatch(/cached pack for sha256:[0-9a-f]{12}: skipped save, registry, push and pack/)
    // Observed from outside: no registry container was created, and nothing was saved or pushed.
    const events = await docker('events', '--since', since, '--until', until, '--filter', 'type=container', '--filter', 'label=bottle-tasks.ephemeral-registry')
    expect(events).toBe('')
    expect(resumed.stderr).not.toMatch(/docker save|crane push|skopeo copy|pack create/)
  })

  it('fails in one line when smolvm cannot pull the pack image from the temporary registry, and removes the registry', async () => {
    const slug = await startVm()
    const failed = await sandbox.task('commit', [slug], { env: { SMOLVM_EMULATOR_PACK_LOOPBACK: 'unreachable' } })
    expect(failed.exitCode, failed.stderr).toBe(1)
    expect(expectOneLineError(failed)).toMatch(/^commit failed at "Pack the smolmachine \(smolvm pack create\)": smolvm pack create could not pull 127\.0\.0\.1:\d+\/bot-bottle-pack:\w+ from the temporary registry \(.*connection refused\): it pulls from inside a helper VM, so 127\.0\.0\.1:\d+ must be reachable from smolvm's VMs/)
    expect(await registryLeftovers()).toBe('')
    expect(existsSync(stateFile(sandbox.home, slug, 'committed-image'))).toBe(false)
  })

  it('removes the registry and keeps the previous snapshot when the push fails', async () => {
    const slug = await startVm()
    expect(await committedOk(slug)).toBe(0)
    const artifact = readFileSync(stateFile(sandbox.home, slug, 'committed-image'), 'utf8').trim()
    const before = readFileSync(artifact)

    const fakes = join(files, 'bin')
    mkdirSync(fakes, { recursive: true })
    writeFileSync(join(fakes, 'crane'), '#!/bin/sh\necho "Error: PUT blob: connection reset by peer" >&2\nexit 1\n', { mode: 0o755 })
    const failed = await sandbox.task('commit', [slug], { env: { PATH: `${fakes}:${EMULATORS}:${process.env.PATH}` } })
    expect(failed.exitCode, failed.stderr).toBe(1)
    expect(expectOneLineError(failed)).toBe('commit failed at "Push the image to it": crane: Error: PUT blob: connection reset by peer')
    expect(await registryLeftovers()).toBe('')
    expect(readFileSync(stateFile(sandbox.home, slug, 'committed-image'), 'utf8').trim()).toBe(artifact)
    expect(readFileSync(artifact).equals(before)).toBe(true)
    expect(existsSync(`${stateFile(sandbox.home, slug, 'committed-smolmachine')}.partial.smolmachine`)).toBe(false)
  })

  /** Start a commit and stop it with `signal` once its temporary registry exists. */
  async function interruptCommitAtRegistry(slug: string, signal: 'SIGTERM' | 'SIGKILL') {
    const committing = execa(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'tasks', 'commit.ts'), slug], { env: sandbox.env(), reject: false })
    // Its own registry: labelled with the pid of the process running the task (tsx's child).
    const ownRegistry = async () => {
      const pids = [String(committing.pid), ...(await execa('pgrep', ['-P', String(committing.pid)], { reject: false })).stdout.split('\n').filter(Boolean)]
      const found = await Promise.all(pids.map((pid) => docker('ps', '-aq', '--filter', `label=bottle-tasks.owner-pid=${pid}`)))
      return found.join('')
    }
    const deadline = Date.now() + 60_000
    while (!(await ownRegistry()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
    expect(await ownRegistry()).not.toBe('')
    // The signal goes to the process running the task (tsx runs it in a child), as a supervisor
    // signals a bundled task: tsx's own relay SIGKILLs a child that has not answered within 30 ms,
    // which a loaded machine misses.
    if (signal === 'SIGKILL') await execa('pkill', ['-KILL', '-f', `tasks/commit.ts ${slug}`], { reject: false })
    else for (const pid of (await execa('pgrep', ['-P', String(committing.pid)])).stdout.split('\n').filter(Boolean)) process.kill(Number(pid), signal)
    return committing
  }

  it('on SIGTERM mid-commit removes the registry, the archive in the VM and scratch files, exits 130, keeps the snapshot', async () => {
    const slug = await startVm()
    expect(await committedOk(slug)).toBe(0)
    const artifact = readFileSync(stateFile(sandbox.home, slug, 'committed-image'), 'utf8').trim()
    const before = statSync(artifact).mtimeMs
    const result = await interruptCommitAtRegistry(slug, 'SIGTERM')
    expect(result.exitCode, result.stderr).toBe(130)
    expect(await registryLeftovers()).toBe('')
    expect(await imagesOf(slug)).toBe('')
    expect(await vmExec(slug, 'test -e /var/tmp/.bot-bottle-commit.tar.gz && echo left || echo removed')).toBe('removed')
    expect(existsSync(join(sandbox.home, 'tmp')) ? readdirSync(join(sandbox.home, 'tmp')) : []).toEqual([])
    expect(statSync(artifact).mtimeMs).toBe(before)
  })

  it('after kill -9 mid-commit, cleanup removes the leftovers and the bottle commits again', async () => {
    const slug = await startVm()
    expect(await committedOk(slug)).toBe(0)
    await interruptCommitAtRegistry(slug, 'SIGKILL')
    expect(await registryLeftovers()).not.toBe('')
    expect(readdirSync(join(sandbox.home, 'tmp')).length).toBeGreaterThan(0)
    // The killed task's lock, made stale as time would (not refreshed since 2001): taken over.
    utimesSync(join(sandbox.home, 'locks', `${slug}.lock`), 1e9, 1e9)
    const cleaned = await sandbox.task('cleanup')
    expect(cleaned.exitCode, cleaned.stderr).toBe(0)
    expect(cleaned.stdout).toMatch(/removed .*left by a crashed task/)
    expect(await registryLeftovers()).toBe('')
    expect(readdirSync(join(sandbox.home, 'tmp'))).toEqual([])
    expect((await sandbox.task('resume', [slug])).exitCode).toBe(0)
    const again = await sandbox.task('commit', [slug])
    expect(again.exitCode, again.stderr).toBe(0)
    // The image the killed commit built went too, not left nameless by the next commit's build.
    expect(await imagesOf(slug)).toBe('')
  })

  it('forks a committed VM into a new running one with its own pack', async () => {
    const slug = await startVm()
    await vmExec(slug, `echo branch-point > ${home}/b.txt`)
    expect(await committedOk(slug)).toBe(0)
    const fork = sandbox.slug('smolfork')
    const forked = await sandbox.task('fork', [slug, '--as', fork])
    expect(forked.exitCode, forked.stderr).toBe(0)
    expect(await vmExec(fork, `cat ${home}/b.txt`)).toBe('branch-point')
    expect(await shellRuns(fork, 'id -un\n')).toBe(agentUser)
    const artifact = readFileSync(stateFile(sandbox.home, fork, 'committed-image'), 'utf8').trim()
    expect(artifact).toBe(stateFile(sandbox.home, fork, 'committed-smolmachine.smolmachine'))
    expect(existsSync(artifact)).toBe(true)
  })

  it('exports the .smolmachine, imports it on another engine and resumes there', async () => {
    const slug = await startVm()
    await vmExec(slug, `echo travelled > ${home}/t.txt`)
    expect(await committedOk(slug)).toBe(0)
    const bundle = join(files, 'vm.bottle')
    expect((await sandbox.task('export', [slug, '--output', bundle])).exitCode).toBe(0)

    const hostB = new Sandbox(withEmulators({ DOCKER_HOST: engineB }))
    try {
      // From elsewhere, a VM with a network asks for it (smolvm gives none unless asked).
      const refused = await hostB.task('import', [bundle])
      expect(refused.exitCode, refused.stderr).toBe(1)
      expect(refused.stderr).toContain('not allowed: network:egress')
      expect(existsSync(join(hostB.home, 'state', slug))).toBe(false)
      const imported = await hostB.task('import', [bundle, '--allow', 'network:egress'])
      expect(imported.exitCode, imported.stderr).toBe(0)
      expect(readFileSync(stateFile(hostB.home, slug, 'committed-image'), 'utf8').trim()).toBe(stateFile(hostB.home, slug, 'committed-smolmachine.smolmachine'))
      // The imported snapshot (and its numbered copy in the history) carries how the VM ran.
      const numbered = JSON.parse(readFileSync(stateFile(hostB.home, slug, 'snapshots.json'), 'utf8')).snapshots.at(-1).ref
      expect(JSON.parse(readFileSync(`${numbered}.run-config.json`, 'utf8')).run).toMatchObject({ backend: 'smolmachines', network: true })
      const resumed = await hostB.task('resume', [slug])
      expect(resumed.exitCode, resumed.stderr).toBe(0)
      expect(await vmExec(slug, `cat ${home}/t.txt; stat -c %U ${home}`, { DOCKER_HOST: engineB })).toBe(`travelled\n${agentUser}`)
    } finally {
      await run('smolvm', ['machine', 'delete', '--name', `bot-bottle-${slug}`, '-f'], { DOCKER_HOST: engineB })
      await hostB.dispose()
    }
  })
})
