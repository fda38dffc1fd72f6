// A bottle that bot-bottle runs as a compose project (the agent plus a sidecar on an external,
// internal network, its compose file in the state dir) comes back as the whole project and goes
// as the whole project.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest'
import { Sandbox, engineObjects, expectOneLineError } from '../helpers.ts'

const agentImage = inject('agentImage')
const engineB = inject('engineB')
const onA = {}
const onB = { DOCKER_HOST: engineB }

const made: Array<{ args: string[]; env: Record<string, string> }> = []
let hostA: Sandbox
let hostB: Sandbox
let files: string
beforeEach(() => {
  hostA = new Sandbox()
  hostB = new Sandbox(onB)
  files = mkdtempSync(join(tmpdir(), 'bottle-tasks-compose-'))
})
afterEach(async () => {
  for (const { args, env } of made.splice(0).reverse()) await execa('docker', args, { env, reject: false })
  await hostA.dispose()
  await hostB.dispose()
  rmSync(files, { recursive: true, force: true })
})

const dockerOn = async (env: Record<string, string>, ...args: string[]) => (await execa('docker', args, { env })).stdout.trim()
const projectContainers = async (env: Record<string, string>, project: string) =>
  (await dockerOn(env, 'ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Names}}')).split('\n').filter(Boolean).sort()

// The sidecar answers on :8080, as an egress proxy would listen for the agent. Both services stop
// on SIGTERM as real ones do: PID 1 of a container ignores a signal it has no handler for, and
// compose would wait its 10 s for each at every stop and down.
const LISTENER = '$SIG{TERM} = sub { exit 0 }; my $s = IO::Socket::INET->new(LocalPort => 8080, Listen => 5, ReuseAddr => 1) or die; while (my $c = $s->accept) { print $c "proxy here\\n"; close $c }'
const AGENT_COMMAND = ['sh', '-c', 'trap "exit 0" TERM; sleep infinity & wait']

/** A compose project the way bot-bottle writes one, brought up with `docker compose up -d`. */
async function composeBottle(sidecarImage = 'debian:bookworm-slim') {
  const slug = hostA.slug('cmp')
  const project = `bot-bottle-${slug}`
  const network = `${project}-internal`
  // Undone newest first: the project goes down before its network can be removed.
  for (const env of [onA, onB]) {
    made.push({ args: ['network', 'rm', network], env })
    made.push({ args: ['compose', '-p', project, 'down', '--remove-orphans'], env })
  }
  hostB.track(slug)
  // bot-bottle makes the bottle's internal network itself, outside compose.
  await dockerOn(onA, 'network', 'create', '--internal', network)
  const state = join(hostA.home, 'state', slug)
  mkdirSync(state, { recursive: true })
  writeFileSync(join(state, 'metadata.json'), JSON.stringify({ identity: slug, agent_name: 'cmp', cwd: '/work', copy_cwd: false, started_at: new Date().toISOString(), compose_project: project, backend: 'docker' }))
  const compose = {
    name: project,
    services: {
      agent: { image: agentImage, container_name: `bot-bottle-${slug}`, command: AGENT_COMMAND, user: 'node', cap_drop: ['ALL'], security_opt: ['no-new-privileges'], mem_limit: '256m', networks: ['internal'] },
      // $$: compose would interpolate $s as a variable.
      // Confined too: what a sidecar loses on the way back is refused as the agent's would be.
      egress: { image: sidecarImage, command: ['perl', '-MIO::Socket::INET', '-e', LISTENER.replaceAll('$', '$$$$')], cap_drop: ['ALL'], networks: { internal: { aliases: ['egress-proxy'] } } },
    },
    networks: { internal: { external: true, name: network } },
  }
  // JSON is YAML: compose reads it as bot-bottle's YAML.
  writeFileSync(join(state, 'docker-compose.yml'), JSON.stringify(compose, null, 2))
  await dockerOn(onA, 'compose', '-p', project, '-f', join(state, 'docker-compose.yml'), 'up', '--detach', '--quiet-pull')
  await dockerOn(onA, 'exec', `bot-bottle-${slug}`, 'sh', '-c', `echo "work of ${slug}" > /home/node/work.txt`)
  return { slug, project, network }
}

/** The whole project runs: the agent confined, from its snapshot, and the sidecar reachable by name from it. */
async function expectProjectUp(env: Record<string, string>, slug: string, project: string, network: string) {
  expect(await projectContainers(env, project)).toEqual([`${project}-egress-1`, `bot-bottle-${slug}`].sort())
  const agent = JSON.parse(await dockerOn(env, 'container', 'inspect', `bot-bottle-${slug}`))[0]
  expect(agent.State.Running).toBe(true)
  expect(agent.Config.Image).toBe(`bot-bottle-committed-${slug}:latest`)
  expect(agent.HostConfig.CapDrop).toEqual(['ALL'])
  expect(agent.HostConfig.Memory).toBe(256 * 1024 * 1024)
  expect(Object.keys(agent.NetworkSettings.Networks)).toEqual([network])
  expect(await dockerOn(env, 'network', 'inspect', '--format', '{{.Internal}}', network)).toBe('true')
  expect(await dockerOn(env, 'exec', `bot-bottle-${slug}`, 'cat', '/home/node/work.txt')).toBe(`work of ${slug}`)
  const reach = "timeout 20 bash -c 'until exec 3<>/dev/tcp/egress-proxy/8080; do sleep 0.2; done; head -n1 <&3'"
  expect(await dockerOn(env, 'exec', `bot-bottle-${slug}`, 'bash', '-c', reach)).toBe('proxy here')
}

describe('a compose bottle', () => {
  it('commits its agent, goes with all its sidecars on cleanup, and comes back as the whole project', async () => {
    const { slug, project, network } = await composeBottle()
    const committed = await hostA.task('commit', [slug])
    expect(committed.exitCode, committed.stderr).toBe(0)
    const recorded = JSON.parse(readFileSync(join(hostA.home, 'state', slug, 'run-config.json'), 'utf8')).run
    expect(recorded.compose).toMatchObject({ project, service: 'agent', sidecars: [{ service: 'egress', image: 'debian:bookworm-slim' }] })

    const listed = JSON.parse((await hostA.task('list', ['--json'])).stdout)
    expect(listed.map((row: { slug: string }) => row.slug)).toEqual([slug])

    const cleaned = await hostA.task('cleanup', [slug])
    expect(cleaned.exitCode, cleaned.stderr).toBe(0)
    expect(await projectContainers(onA, project)).toEqual([])
    await dockerOn(onA, 'network', 'rm', network)

    const resumed = await hostA.task('resume', [slug])
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    await expectProjectUp(onA, slug, project, network)

    expect((await hostA.task('cleanup', [slug])).exitCode).toBe(0)
    expect(await projectContainers(onA, project)).toEqual([])
  })

  it('stopped as after a reboot: resume starts the agent and its sidecars again', async () => {
    const { slug, project } = await composeBottle()
    await dockerOn(onA, 'compose', '-p', project, 'stop')
    const resumed = await hostA.task('resume', [slug, '--json'])
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect(JSON.parse(resumed.stdout)).toMatchObject({ how: 'restarted' })
    const running = await dockerOn(onA, 'ps', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Names}}')
    expect(running.split('\n').sort()).toEqual([`${project}-egress-1`, `bot-bottle-${slug}`].sort())
  })

  it('left with its sidecars but without its agent: cleanup takes them down', async () => {
    const { slug, project } = await composeBottle()
    await dockerOn(onA, 'rm', '--force', `bot-bottle-${slug}`)
    const dry = JSON.parse((await hostA.task('cleanup', [slug, '--dry-run', '--json'])).stdout)
    expect(dry.actions).toContainEqual({ slug, what: 'remove-bottle', why: 'its sidecars are left in the engine' })
    expect((await hostA.task('cleanup', [slug])).exitCode).toBe(0)
    expect(await projectContainers(onA, project)).toEqual([])
  })

  it('refuses to come back without a sidecar whose image is gone, with nothing left running, unless relaxed', async () => {
    const sidecarImage = `bottle-tasks-test-sidecar:${process.pid}`
    await dockerOn(onA, 'tag', 'debian:bookworm-slim', sidecarImage)
    made.push({ args: ['image', 'rm', sidecarImage], env: onA })
    const { slug, project } = await composeBottle(sidecarImage)
    expect((await hostA.task('commit', [slug])).exitCode).toBe(0)
    expect((await hostA.task('cleanup', [slug])).exitCode).toBe(0)
    await dockerOn(onA, 'image', 'rm', sidecarImage)

    const refused = await hostA.task('resume', [slug])
    expect(refused.exitCode).toBe(1)
    const line = expectOneLineError(refused)
    expect(line).toContain(`egress (${sidecarImage})`)
    expect(line).toContain('--relax sidecars')
    expect(await projectContainers(onA, project)).toEqual([])

    const relaxed = await hostA.task('resume', [slug, '--relax', 'sidecars'])
    expect(relaxed.exitCode, relaxed.stderr).toBe(0)
    expect(relaxed.stdout).toContain('Relaxed at your request (weaker than it ran): sidecars')
    expect(await projectContainers(onA, project)).toEqual([`bot-bottle-${slug}`])
  })

  it('refuses a sidecar that comes back weaker than it ran (a capability not dropped), or not at all, leaving nothing made', async () => {
    const { slug, project, network } = await composeBottle()
    expect((await hostA.task('commit', [slug])).exitCode).toBe(0)
    const recorded = JSON.parse(readFileSync(join(hostA.home, 'state', slug, 'run-config.json'), 'utf8')).run
    expect(recorded.compose.sidecars).toEqual([expect.objectContaining({ service: 'egress', run: expect.objectContaining({ capDrop: ['ALL'], env: [] }) })])
    expect((await hostA.task('cleanup', [slug])).exitCode).toBe(0)
    const file = join(hostA.home, 'state', slug, 'docker-compose.yml')
    const original = readFileSync(file, 'utf8')
    const compose = JSON.parse(original)
    const expectRefused = async (what: RegExp) => {
      const before = await engineObjects(onA)
      const refused = await hostA.task('resume', [slug])
      expect(refused.exitCode).toBe(1)
      expect(expectOneLineError(refused)).toMatch(what)
      expect(await projectContainers(onA, project)).toEqual([])
      expect(await engineObjects(onA)).toEqual(before)
    }

    delete compose.services.egress.cap_drop
    writeFileSync(file, JSON.stringify(compose))
    await expectRefused(/capability ALL was not dropped \(sidecar egress\).*--relax limits/)

    delete compose.services.egress
    writeFileSync(file, JSON.stringify(compose))
    await expectRefused(/sidecar egress ran with the bottle, and the compose file has no such service now.*--relax sidecars/)

    writeFileSync(file, original)
    const resumed = await hostA.task('resume', [slug])
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    await expectProjectUp(onA, slug, project, network)
  })

  it('refuses a sidecar runtime this engine lacks, and when relaxed gives runc to that sidecar alone, saying so', async () => {
    const { slug, project, network } = await composeBottle()
    expect((await hostA.task('commit', [slug])).exitCode).toBe(0)
    expect((await hostA.task('cleanup', [slug])).exitCode).toBe(0)
    // As if the compose file named a runtime (e.g. runsc) this engine does not have.
    const file = join(hostA.home, 'state', slug, 'docker-compose.yml')
    const compose = JSON.parse(readFileSync(file, 'utf8'))
    compose.services.egress.runtime = 'bt-no-such-runtime'
    writeFileSync(file, JSON.stringify(compose))

    const refused = await hostA.task('resume', [slug])
    expect(refused.exitCode).toBe(1)
    expect(expectOneLineError(refused)).toMatch(/runtime bt-no-such-runtime of service egress is not installed on this engine.*--relax runtime/)
    expect(await projectContainers(onA, project)).toEqual([])

    // A bind source gone from this host is refused too (the engine would make it, empty).
    const gone = join(files, 'gone')
    compose.services.egress.volumes = [`${gone}:/srv/gone:ro`]
    writeFileSync(file, JSON.stringify(compose))
    const noBind = await hostA.task('resume', [slug, '--relax', 'runtime'])
    expect(noBind.exitCode).toBe(1)
    expect(expectOneLineError(noBind)).toMatch(new RegExp(`bind-mounted host path ${gone} of service egress does not exist on this host.*--relax binds`))
    expect(existsSync(gone)).toBe(false)
    delete compose.services.egress.volumes
    writeFileSync(file, JSON.stringify(compose))

    const relaxed = await hostA.task('resume', [slug, '--relax', 'runtime', '--json'])
    expect(relaxed.exitCode, relaxed.stderr).toBe(0)
    expect(JSON.parse(relaxed.stdout).relaxed).toEqual(['runtime: runtime bt-no-such-runtime of service egress is not installed on this engine'])
    await expectProjectUp(onA, slug, project, network)
    expect(await dockerOn(onA, 'inspect', '--format', '{{.HostConfig.Runtime}}', `${project}-egress-1`)).toBe('runc')
  })

  it("its project's own internal network comes back internal; a non-internal one compose would take in its place is refused", async () => {
    const slug = hostA.slug('cmp')
    const project = `bot-bottle-${slug}`
    const own = `${project}_sandbox`
    made.push({ args: ['network', 'rm', own], env: onA })
    made.push({ args: ['compose', '-p', project, 'down', '--remove-orphans'], env: onA })
    const state = join(hostA.home, 'state', slug)
    mkdirSync(state, { recursive: true })
    writeFileSync(join(state, 'metadata.json'), JSON.stringify({ identity: slug, agent_name: 'cmp', cwd: '/work', copy_cwd: false, started_at: new Date().toISOString(), compose_project: project, backend: 'docker' }))
    const compose = {
      name: project,
      services: { agent: { image: agentImage, container_name: `bot-bottle-${slug}`, command: AGENT_COMMAND, networks: ['sandbox'] } },
      networks: { sandbox: { internal: true } },
    }
    writeFileSync(join(state, 'docker-compose.yml'), JSON.stringify(compose, null, 2))
    await dockerOn(onA, 'compose', '-p', project, '-f', join(state, 'docker-compose.yml'), 'up', '--detach', '--quiet-pull')
    expect((await hostA.task('commit', [slug])).exitCode).toBe(0)
    const recorded = JSON.parse(readFileSync(join(state, 'run-config.json'), 'utf8')).run
    expect(recorded.networkDefinitions).toEqual([expect.objectContaining({ name: own, internal: true, composeManaged: true })])
    expect((await hostA.task('cleanup', [slug])).exitCode).toBe(0)
    expect(await dockerOn(onA, 'network', 'ls', '--quiet', '--filter', `name=^${own}$`)).toBe('')

    // A network of that name with the labels compose looks for, but not internal.
    await dockerOn(onA, 'network', 'create', '--label', `com.docker.compose.project=${project}`, '--label', 'com.docker.compose.network=sandbox', own)
    const refused = await hostA.task('resume', [slug])
    expect(refused.exitCode).toBe(1)
    expect(expectOneLineError(refused)).toMatch(new RegExp(`network ${own}.*is not internal.*--relax networks`))
    expect(await projectContainers(onA, project)).toEqual([])

    await execa('docker', ['network', 'rm', own], { reject: false })
    const resumed = await hostA.task('resume', [slug])
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect(await dockerOn(onA, 'network', 'inspect', '--format', '{{.Internal}}', own)).toBe('true')
    expect(await dockerOn(onA, 'inspect', '--format', '{{.State.Running}}', `bot-bottle-${slug}`)).toBe('true')
  })

  it('moves to engine B with its compose file, and comes back there as the whole project', async () => {
    const { slug, project, network } = await composeBottle()
    expect((await hostA.task('commit', [slug])).exitCode).toBe(0)
    const bundle = join(files, `${slug}.bottle`)
    expect((await hostA.task('export', [slug, '--output', bundle])).exitCode).toBe(0)
    const { stdout: members } = await execa('tar', ['tf', bundle])
    expect(members.split('\n')).toEqual(['snapshot.tar.zst', 'state/docker-compose.yml', 'manifest.json'])

    const imported = await hostB.task('import', [bundle])
    expect(imported.exitCode, imported.stderr).toBe(0)
    expect(readFileSync(join(hostB.home, 'state', slug, 'docker-compose.yml'), 'utf8')).toContain(`bot-bottle-${slug}`)
    const resumed = await hostB.task('resume', [slug])
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    await expectProjectUp(onB, slug, project, network)
  })
})
