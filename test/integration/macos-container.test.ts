// The macos-container backend through the same tasks as the docker one, against the emulator of
// Apple's `container` CLI (test/emulators/container), which does the real work with Docker. The
// backend talks to `container` only, never to an engine: run once (vitest.config.ts, any-engine).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest'
import { Sandbox, docker, expectOneLineError } from '../helpers.ts'
import { buildImage, stateFile, testImages, withEmulators as emulated } from '../emulated.ts'

const registryImage = inject('registryImage')
const engineB = inject('engineB')
const withEmulators = (extra: Record<string, string> = {}) => emulated(registryImage, extra)
const run = (command: string, args: string[], env: Record<string, string> = {}) => execa(command, args, { env: withEmulators(env), reject: false })

let sandbox: Sandbox
let files: string
beforeEach(() => {
  sandbox = new Sandbox(withEmulators())
  files = mkdtempSync(join(tmpdir(), 'bottle-tasks-macos-'))
})
afterEach(async () => {
  await sandbox.dispose()
  rmSync(files, { recursive: true, force: true })
})

describe.each(testImages(inject('agentImage')))('macos-container on the $kind image', ({ kind, image, user, home }) => {
  const base = `bottle-tasks-test-apple-${kind}:${process.pid}`
  const made: string[][] = []
  beforeAll(async () => {
    // Settings a snapshot must carry over, none of them the defaults; a CMD that is a shell (a
    // detached container running it would exit at once); and a credential baked into the image,
    // which must not be carried over.
    const dockerfile = `FROM ${image}\nENV AGENT_MODE=careful API_KEY=baked-in-credential\nWORKDIR ${home}\n${user ? `USER ${user}\n` : ''}CMD ["bash", "-l"]\n`
    await buildImage(base, dockerfile)
  })
  afterAll(async () => {
    await execa('docker', ['image', 'rm', '-f', base], { reject: false })
  })
  const exec = async (slug: string, script: string, env: Record<string, string> = {}) =>
    (await run('container', ['exec', '--user', 'root', `bot-bottle-${slug}`, 'sh', '-c', script], env)).stdout.trim()
  const inspect = async (slug: string) => JSON.parse((await run('container', ['inspect', `bot-bottle-${slug}`])).stdout)[0]
  /** Something made with `container …` for one test, removed after it. */
  const make = async (args: string[], undo: string[]) => {
    const result = await run('container', args)
    expect(result.exitCode, result.stderr).toBe(0)
    made.push(undo)
  }
  afterEach(async () => {
    for (const slug of sandbox.tracked()) await run('container', ['delete', '--force', `bot-bottle-${slug}`])
    for (const undo of made.splice(0).reverse()) await run('container', undo)
  })
  const start = async (box = sandbox, from = base) => {
    const started = await box.task('start', ['--agent', 'mac', '--image', from, '--backend', 'macos-container'])
    expect(started.exitCode, started.stderr).toBe(0)
    return box.track(started.stdout.trim())
  }
  /**
   * The bottle run again the way another tool may have run it: its labels as they were, plus
   * `flags` (networks, mounts, limits…).
   */
  const rerunWith = async (slug: string, flags: string[]) => {
    const name = `bot-bottle-${slug}`
    const [listed] = JSON.parse((await run('container', ['list', '--all', '--format', 'json'])).stdout).filter((entry: { id: string }) => entry.id === name)
    const labels = Object.entries(listed.configuration.labels as Record<string, string>).flatMap(([key, value]) => ['--label', `${key}=${value}`])
    await run('container', ['delete', '--force', name])
    const rerun = await run('container', ['run', '--detach', '--name', name, ...labels, ...flags, '--entrypoint', 'sleep', base, 'infinity'])
    expect(rerun.exitCode, rerun.stderr).toBe(0)
  }

  it('keeps a bottle whose CMD is a shell running, commits it by exec-tar with its settings, and resumes it with the work intact', async () => {
    const slug = await start()
    await exec(slug, `echo mac-work > ${home}/work.txt`)
    // Still running, although its image's CMD is a shell and a detached container has no stdin.
    expect((await inspect(slug)).status.state).toBe('running')

    const committed = await sandbox.task('commit', [slug])
    expect(committed.exitCode, committed.stderr).toBe(0)
    expect((await inspect(slug)).status.state).toBe('running')
    const snapshot = `bot-bottle-committed-${slug}:latest`
    expect(readFileSync(stateFile(sandbox.home, slug, 'committed-image'), 'utf8').trim()).toBe(snapshot)
    const config = JSON.parse(await docker('image', 'inspect', '--format', '{{json .Config}}', snapshot))
    // The image's CMD, not the command that kept the bottle running.
    expect(config).toMatchObject({ WorkingDir: home, Cmd: ['bash', '-l'] })
    expect(config.User ?? '').toBe(user ?? '')
    expect(config.Env).toContain('AGENT_MODE=careful')
    expect(config.Labels['bot-bottle.slug']).toBe(slug)
    expect(config.Labels['bot-bottle.secret-env']).toBe('API_KEY')
    // The saved bytes hold the plain setting (a control: a failed save cannot pass) and no credential.
    const saved = join(files, 'saved.tar')
    await execa('docker', ['save', '-o', saved, snapshot])
    const bytes = readFileSync(saved)
    expect(bytes.includes('AGENT_MODE=careful'), 'the control value is in the saved bytes').toBe(true)
    expect(bytes.includes('baked-in-credential')).toBe(false)
    rmSync(saved)

    const cleaned = await sandbox.task('cleanup', [slug])
    expect(cleaned.exitCode, cleaned.stderr).toBe(0)
    expect((await run('container', ['list', '--all', '--format', 'json'])).stdout).not.toContain(`bot-bottle-${slug}`)
    const resumed = await sandbox.task('resume', [slug, '--json'], { env: { API_KEY: 'supplied-again' } })
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect(JSON.parse(resumed.stdout)).toMatchObject({ how: 'snapshot', source: snapshot })
    expect(await exec(slug, `cat ${home}/work.txt; stat -c %a /tmp /var/tmp; echo "$API_KEY"`)).toBe('mac-work\n1777\n1777\nsupplied-again')
    // As the user it ran as.
    expect((await run('container', ['exec', `bot-bottle-${slug}`, 'id', '-un'])).stdout.trim()).toBe(user ?? 'root')
  })

  it('carries the metadata and state root in labels the real parser accepts, whatever characters they hold', async () => {
    // A state root whose path holds "=" (and the metadata JSON, which names it): as a plain
    // `--label` value, `container run` refuses it (invalid label format).
    const odd = new Sandbox(withEmulators())
    const home = join(odd.home, 'a=b c,d')
    mkdirSync(home)
    const oddTask = (name: string, args: string[]) => odd.task(name, args, { env: { BOT_BOTTLE_HOME: home } })
    try {
      const started = await oddTask('start', ['--agent', 'mac', '--image', base, '--backend', 'macos-container'])
      expect(started.exitCode, started.stderr).toBe(0)
      const slug = odd.track(started.stdout.trim())
      sandbox.track(slug)
      // Its container is found as this state root's (the state-root label decodes to this path).
      const listed = JSON.parse((await oddTask('list', ['--json'])).stdout)
      expect(listed.find((row: { slug: string }) => row.slug === slug)).toMatchObject({ status: 'running', backend: 'macos-container' })
      const committed = await oddTask('commit', [slug])
      expect(committed.exitCode, committed.stderr).toBe(0)
      const labels = JSON.parse(await docker('image', 'inspect', '--format', '{{json .Config.Labels}}', `bot-bottle-committed-${slug}:latest`))
      expect(JSON.parse(labels['bot-bottle.metadata'])).toMatchObject({ identity: slug, backend: 'macos-container' })
    } finally {
      await odd.dispose()
    }
  })

  it('records how the bottle runs (networks, limits, mounts, volumes, user, workdir, env) and brings it back that way', async () => {
    const slug = await start()
    const network = `bt-int-${slug}`
    const volume = `bt-vol-${slug}`
    const shared = join(files, 'shared')
    mkdirSync(shared)
    writeFileSync(join(shared, 'from-host'), 'host file')
    await make(['network', 'create', '--internal', network], ['network', 'delete', network])
    await make(['volume', 'create', volume], ['volume', 'delete', volume])
    await rerunWith(slug, ['--network', network, '--cpus', '2', '--memory', '384M', '-v', `${shared}:/shared:ro`, '-v', `${volume}:/data`,
      '--tmpfs', '/scratch', '-u', '0:0', '-w', '/srv', '-e', 'TASK_MODE=strict', '--read-only',
      '--dns', '10.0.0.53', '--dns-domain', 'corp.example', '--dns-search', 'corp.example', '--dns-option', 'ndots:2'])
    await exec(slug, 'echo kept > /data/in-volume')

    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
    const recorded = JSON.parse(readFileSync(stateFile(sandbox.home, slug, 'run-config.json'), 'utf8')).run
    expect(recorded).toEqual({
      backend: 'macos-container',
      networks: [network],
      internalNetworks: [network],
      cpus: 2,
      memoryBytes: 384 * 1024 ** 2,
      mounts: [{ source: shared, target: '/shared', readOnly: true }],
      volumes: [{ name: volume, target: '/data', readOnly: false }],
      tmpfs: [{ target: '/scratch', options: [] }],
      user: '0:0',
      workdir: '/srv',
      envNames: ['TASK_MODE'],
      readOnly: true,
      dns: { nameservers: ['10.0.0.53'], domain: 'corp.example', searchDomains: ['corp.example'], options: ['ndots:2'] },
      // What the platform adds: a VM for each container.
      platform: { name: "Apple's container (a VM for each container)", vm: true, rootless: false, userns: false, apparmor: false, selinux: false },
    })
    // It travels with the snapshot too (an earlier snapshot, an import).
    expect(JSON.parse(JSON.parse(await docker('image', 'inspect', '--format', '{{json .Config.Labels}}', `bot-bottle-committed-${slug}:latest`))['bot-bottle.run-config']).run).toEqual(recorded)

    // The value the run gave travels in the snapshot: this host's own TASK_MODE does not replace it.
    expect(JSON.parse(await docker('image', 'inspect', '--format', '{{json .Config.Env}}', `bot-bottle-committed-${slug}:latest`))).toContain('TASK_MODE=strict')
    expect((await sandbox.task('cleanup', [slug])).exitCode).toBe(0)
    const resumed = await sandbox.task('resume', [slug], { env: { TASK_MODE: 'from-this-host' } })
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    const { configuration } = await inspect(slug)
    expect(configuration.networks.map((entry: { network: string }) => entry.network)).toEqual([network])
    expect(configuration.resources).toEqual({ cpus: 2, memoryInBytes: 384 * 1024 ** 2 })
    expect(configuration.initProcess).toMatchObject({ user: { raw: { userString: '0:0' } }, workingDirectory: '/srv' })
    expect(configuration.initProcess.environment).toContain('TASK_MODE=strict')
    expect(await exec(slug, 'cat /shared/from-host; echo; cat /data/in-volume; df /scratch | tail -1 | cut -d" " -f1')).toBe('host file\nkept\ntmpfs')
    expect(configuration.readOnly).toBe(true)
    expect(configuration.dns).toEqual(recorded.dns)
    expect(await exec(slug, 'touch /written 2>/dev/null && echo writable || echo read-only')).toBe('read-only')
    // On a user network the resolver inside is the engine's, forwarding to these servers.
    expect(await docker('inspect', '--format', '{{json .HostConfig.Dns}} {{json .HostConfig.DnsSearch}}', `apple-bot-bottle-${slug}`)).toBe('["10.0.0.53"] ["corp.example"]')
  })

  it('refuses to come back weaker (a missing network, host path or volume), boots nothing, and boots when told to relax', async () => {
    const slug = await start()
    const network = `bt-gone-${slug}`
    const volume = `bt-gone-${slug}`
    const shared = join(files, 'gone')
    mkdirSync(shared)
    await make(['network', 'create', '--internal', network], ['network', 'delete', network])
    await make(['volume', 'create', volume], ['volume', 'delete', volume])
    await rerunWith(slug, ['--network', network, '-v', `${shared}:/shared`, '-v', `${volume}:/data`])
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
    expect((await sandbox.task('cleanup', [slug])).exitCode).toBe(0)
    await run('container', ['network', 'delete', network])
    await run('container', ['volume', 'delete', volume])
    rmSync(shared, { recursive: true })

    const gone = async () => !(await run('container', ['list', '--all', '--format', 'json'])).stdout.includes(`bot-bottle-${slug}`)
    for (const [relax, what] of [
      [[], `network ${network} is not on this host`],
      [['--relax', 'networks'], `bind-mounted host path ${shared} does not exist on this host`],
      [['--relax', 'networks', '--relax', 'binds'], `volume ${volume} is gone from this host`],
    ] as const) {
      const refused = await sandbox.task('resume', [slug, ...relax])
      expect(refused.exitCode).toBe(1)
      expect(expectOneLineError(refused)).toContain(what)
      expect(await gone()).toBe(true)
      // Nothing was made either: a network is made again only once every check has passed.
      expect((await run('container', ['network', 'inspect', network])).exitCode).not.toBe(0)
    }

    const relaxed = await sandbox.task('resume', [slug, '--relax', 'networks', '--relax', 'binds', '--relax', 'volumes', '--json'])
    expect(relaxed.exitCode, relaxed.stderr).toBe(0)
    made.push(['network', 'delete', network], ['volume', 'delete', volume])
    expect(JSON.parse(relaxed.stdout).relaxed).toEqual([
      `networks: network ${network} is not on this host`,
      `binds: bind-mounted host path ${shared} does not exist on this host`,
      `volumes: volume ${volume} is gone from this host (its data would be lost)`,
    ])
    expect(JSON.parse((await run('container', ['network', 'inspect', network])).stdout)[0].configuration.mode).toBe('hostOnly')
    expect((await inspect(slug)).configuration.mounts.map((mount: { destination: string }) => mount.destination)).toEqual(['/data'])
  })

  it('refuses to boot without a mount container run cannot make again (a block mount), until told to relax binds', async () => {
    const slug = await start()
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
    expect((await sandbox.task('cleanup', [slug])).exitCode).toBe(0)
    // What commit records of a Filesystem type `container run` has no flag for (`container inspect` shows {"block":{…}}).
    const file = stateFile(sandbox.home, slug, 'run-config.json')
    const config = JSON.parse(readFileSync(file, 'utf8'))
    config.run.otherMounts = [{ type: 'block', source: '/var/lib/disk.img', target: '/disk' }]
    writeFileSync(file, JSON.stringify(config))
    const refused = await sandbox.task('resume', [slug])
    expect(refused.exitCode).toBe(1)
    expect(expectOneLineError(refused)).toContain('the block mount /var/lib/disk.img at /disk cannot be made again with container run')
    expect((await run('container', ['list', '--all', '--format', 'json'])).stdout).not.toContain(`bot-bottle-${slug}`)
    const relaxed = await sandbox.task('resume', [slug, '--relax', 'binds', '--json'])
    expect(relaxed.exitCode, relaxed.stderr).toBe(0)
    expect(JSON.parse(relaxed.stdout).relaxed).toEqual(['binds: the block mount /var/lib/disk.img at /disk cannot be made again with container run'])
  })

  it("reads a multi-platform image's settings from this host's variant", async () => {
    const decoy = `bottle-tasks-test-apple-decoy-${kind}:${process.pid}`
    const multi = `bottle-tasks-test-apple-multi-${kind}:${process.pid}`
    try {
      // The other platform comes first in the index and has other settings.
      await buildImage(decoy, `FROM ${base}\nUSER nobody\nENV AGENT_MODE=decoy\nCMD ["decoy"]\n`)
      await buildImage(multi, `FROM ${base}\nLABEL bottle-tasks.emulator.variant.linux/riscv64=${decoy}\n`)
      const slug = await start(sandbox, multi)
      expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
      const config = JSON.parse(await docker('image', 'inspect', '--format', '{{json .Config}}', `bot-bottle-committed-${slug}:latest`))
      expect(config).toMatchObject({ Cmd: ['bash', '-l'], WorkingDir: home })
      expect(config.Env).toContain('AGENT_MODE=careful')
      expect(config.User ?? '').toBe(user ?? '')
    } finally {
      await execa('docker', ['image', 'rm', '-f', multi, decoy], { reject: false })
    }
  })

  it('forks a committed container into a new running one', async () => {
    const slug = await start()
    await exec(slug, `echo branch-point > ${home}/b.txt`)
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
    const fork = sandbox.slug('macfork')
    const forked = await sandbox.task('fork', [slug, '--as', fork])
    expect(forked.exitCode, forked.stderr).toBe(0)
    expect(await exec(fork, `cat ${home}/b.txt`)).toBe('branch-point')
    expect((await inspect(fork)).status.state).toBe('running')
    expect(readFileSync(stateFile(sandbox.home, fork, 'committed-image'), 'utf8').trim()).toBe(`bot-bottle-committed-${fork}:latest`)
  })

  it('refuses to fork or export with its named volumes a bottle it cannot copy them for, and exports it with --no-volumes saying so', async () => {
    const slug = await start()
    const volume = `bt-keep-${slug}`
    await make(['volume', 'create', volume], ['volume', 'delete', volume])
    await rerunWith(slug, ['-v', `${volume}:/data`])
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)

    // A fork that shared the volume would write into this bottle's data.
    const fork = sandbox.slug('macvol')
    const forked = await sandbox.task('fork', [slug, '--as', fork])
    expect(forked.exitCode).toBe(1)
    expect(expectOneLineError(forked)).toContain(`bottle "${slug}" has named volumes (${volume})`)
    expect(existsSync(join(sandbox.home, 'state', fork))).toBe(false)
    expect((await run('container', ['list', '--all', '--format', 'json'])).stdout).not.toContain(`bot-bottle-${fork}`)
    expect(await docker('image', 'ls', '--quiet', `bot-bottle-committed-${fork}`)).toBe('')

    const bundle = join(files, 'mac-volumes.bottle')
    const refused = await sandbox.task('export', [slug, '-o', bundle])
    expect(refused.exitCode).not.toBe(0)
    expect(expectOneLineError(refused)).toContain(`volume ${volume}: named volumes of macos-container bottles cannot travel in a bundle yet; export with --no-volumes`)
    expect(existsSync(bundle)).toBe(false)
    const without = await sandbox.task('export', [slug, '-o', bundle, '--no-volumes'])
    expect(without.exitCode, without.stderr).toBe(0)
    expect(without.stdout).toContain(`Volumes left out (--no-volumes): ${volume}.`)
  })

  it('exports what `container image save` writes and imports it with `container image load` on another engine', async () => {
    const slug = await start()
    await exec(slug, `echo moved > ${home}/moved.txt`)
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
      expect(await exec(slug, `cat ${home}/moved.txt`, { DOCKER_HOST: engineB })).toBe('moved')
    } finally {
      await run('container', ['delete', '--force', `bot-bottle-${slug}`], { DOCKER_HOST: engineB })
      await hostB.dispose()
    }
  })
})
