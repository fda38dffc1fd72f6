// The `container` emulator behaves like Apple's CLI (1.2.x) where the macos-container backend
// depends on it: kept stopped containers, detached shells that exit, byte-exact streamed exec,
// OCI-layout save/load, the 1.x JSON shapes, the run flags with their real grammar, and refusals of
// what the real tool refuses. Runs against the real Docker engine underneath.
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { execa } from 'execa'
import { afterAll, describe, expect, inject, it } from 'vitest'

const EMULATORS = resolve(import.meta.dirname)
const BASE_IMAGE = process.env.BOTTLE_TASKS_TEST_IMAGE ?? 'debian:bookworm-slim'
const AGENT_IMAGE = inject('agentImage')
const env = { PATH: `${EMULATORS}:${process.env.PATH ?? ''}` }
const ROOTFS_TAR = ['tar', '-C', '/', '-cf', '-', '--exclude=./proc', '--exclude=./sys', '--exclude=./dev', '--exclude=./run', '.']
const KEEP_RUNNING = ['sleep', 'infinity']

const suffix = Math.random().toString(36).slice(2, 8)
const containers = new Set<string>()
const images = new Set<string>()
const networks = new Set<string>()
const volumes = new Set<string>()
const tempDirs: string[] = []

/** A unique container name, deleted after the file. */
function containerName(label: string): string {
  const name = `emu-${label}-${suffix}`
  containers.add(name)
  return name
}

/** A unique image reference, deleted after the file. */
function imageRef(label: string): string {
  const ref = `emu-${label}-${suffix}:latest`
  images.add(ref)
  return ref
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'container-emu-test-'))
  tempDirs.push(dir)
  return dir
}

/** Run the emulator as the backend would: `test/emulators` first on PATH, failures returned, not thrown. */
const container = (args: string[]) => execa('container', args, { env, reject: false })
/** The same, keeping stdout as bytes (binary output). */
const containerBytes = (args: string[]) => execa('container', args, { env, reject: false, encoding: 'buffer' })
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

/** `run -d` with options, image and command; the run must succeed. */
async function runDetached(name: string, options: string[] = [], image = BASE_IMAGE, command: string[] = KEEP_RUNNING): Promise<void> {
  const result = await container(['run', '-d', '--name', name, ...options, image, ...command])
  expect(result.stderr).toBe('')
  expect(result.exitCode).toBe(0)
  expect(result.stdout).toBe(name)
}

async function listIds(...flags: string[]): Promise<string[]> {
  const result = await container(['list', '-q', ...flags])
  expect(result.exitCode).toBe(0)
  return String(result.stdout).split('\n').filter(Boolean)
}

interface ListedContainer {
  id: string
  configuration: { id: string; image: { reference: string }; labels: Record<string, string> }
  status: { state: string }
}

async function listJson(...flags: string[]): Promise<ListedContainer[]> {
  const result = await container(['list', '--format', 'json', ...flags])
  expect(result.exitCode).toBe(0)
  return JSON.parse(String(result.stdout)) as ListedContainer[]
}

async function inspect(name: string): Promise<any> {
  const result = await container(['inspect', name])
  expect(result.exitCode, result.stderr).toBe(0)
  return JSON.parse(String(result.stdout))[0]
}

/** Poll until `check` holds (a container's process exiting has no event to wait on here). */
async function eventually(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((done) => setTimeout(done, 100))
  }
}

afterAll(async () => {
  const dockerNames = [...containers].map((name) => `apple-${name}`)
  if (dockerNames.length > 0) await execa('docker', ['rm', '-f', ...dockerNames], { reject: false })
  if (images.size > 0) await execa('docker', ['image', 'rm', '-f', ...images], { reject: false })
  for (const volume of volumes) await execa('docker', ['volume', 'rm', '-f', `apple-vol-${volume}`], { reject: false })
  for (const network of networks) await execa('docker', ['network', 'rm', `apple-net-${network}`], { reject: false })
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
})

describe('containers', () => {
  it('keeps a container started without --rm after it stops: list -a shows it, list and exec do not take it', async () => {
    const name = containerName('keep')
    await runDetached(name, ['-l', 'purpose=test', '-e', 'FOO=bar'])
    expect(await listIds()).toContain(name)
    const running = (await listJson()).find((entry) => entry.id === name)
    expect(running).toMatchObject({
      id: name,
      configuration: { id: name, image: { reference: `docker.io/library/${BASE_IMAGE}` }, labels: { purpose: 'test' } },
      status: { state: 'running' },
    })
    // Running already: start only prints the ID; attaching to it is refused (ContainerStart.run).
    expect((await container(['start', name])).stdout).toBe(name)
    const attach = await container(['start', '-a', name])
    expect(attach.exitCode).not.toBe(0)
    expect(attach.stderr).toBe('Error: attach is currently unsupported on already running containers')
    const busy = await container(['delete', name])
    expect(busy.exitCode).not.toBe(0)
    expect(busy.stderr).toBe(`Error: container ${name} is running and can not be deleted`)

    const stopped = await container(['stop', '-t', '1', name])
    expect(stopped.exitCode).toBe(0)
    expect(stopped.stdout).toBe(name)
    expect(await listIds()).not.toContain(name)
    expect(await listIds('-a')).toContain(name)
    expect((await listJson('--all')).find((entry) => entry.id === name)?.status.state).toBe('stopped')

    const exec = await container(['exec', name, 'true'])
    expect(exec.exitCode).not.toBe(0)
    expect(exec.stderr).toBe(`Error: container ${name} is not running`)

    const deleted = await container(['delete', name])
    expect(deleted.exitCode).toBe(0)
    expect(await listIds('-a')).not.toContain(name)
  })

  it('gives a detached container no stdin: one whose command is a shell exits at once (TestCLIExecCommand)', async () => {
    const shell = containerName('shell')
    await runDetached(shell, [], BASE_IMAGE, [])
    await eventually(async () => (await listJson('--all')).find((entry) => entry.id === shell)?.status.state === 'stopped')
    expect(await listIds()).not.toContain(shell)
    // What keeps one running is a command that does not read stdin.
    const sleeper = containerName('sleeper')
    await runDetached(sleeper, [], BASE_IMAGE, KEEP_RUNNING)
    expect((await container(['exec', sleeper, 'true'])).exitCode).toBe(0)
  })

  it('deletes a --rm container when it stops', async () => {
    const name = containerName('rm')
    await runDetached(name, ['--rm'])
    expect((await container(['stop', '-t', '1', name])).exitCode).toBe(0)
    expect(await listIds('-a')).not.toContain(name)
    expect((await execa('docker', ['container', 'inspect', `apple-${name}`], { reject: false })).exitCode).not.toBe(0)
  })

  it('describes a container with inspect: image, labels and the init process', async () => {
    const name = containerName('inspect')
    await runDetached(name, ['-l', 'a=b', '-e', 'FOO=bar', '-u', 'node', '-w', '/tmp'], AGENT_IMAGE)
    const described = await inspect(name)
    expect(described).toMatchObject({
      id: name,
      configuration: {
        id: name,
        image: { reference: `docker.io/${AGENT_IMAGE}` },
        labels: { a: 'b' },
        initProcess: { executable: 'sleep', arguments: ['infinity'], user: { raw: { userString: 'node' } }, workingDirectory: '/tmp' },
        networks: [{ network: 'default', options: { hostname: name, mtu: 1280 } }],
        resources: { cpus: 4, memoryInBytes: 1024 ** 3 },
        mounts: [],
      },
      status: { state: 'running' },
    })
    expect(described.configuration.initProcess.environment).toContain('FOO=bar')
    expect(described.configuration.labels).not.toHaveProperty('bottle-tasks.emulator')

    const missing = await container(['inspect', `emu-missing-${suffix}`])
    expect(missing.exitCode).not.toBe(0)
    expect(missing.stderr).toBe(`Error: container not found: emu-missing-${suffix}`)
    // One missing ID fails the whole inspect: nothing printed of the ones found.
    const some = await container(['inspect', name, `emu-missing-${suffix}`])
    expect(some.exitCode).not.toBe(0)
    expect(some.stdout).toBe('')
  })

  it('runs with the resources, mounts, volumes and networks it is given, and shows them as the real configuration does', async () => {
    const name = containerName('config')
    const host = tempDir()
    writeFileSync(join(host, 'seen'), 'from the host')
    const net = `emu-net-${suffix}`
    const volume = `emu-vol-${suffix}`
    networks.add(net)
    volumes.add(volume)
    expect((await container(['network', 'create', '--internal', net])).exitCode).toBe(0)
    expect((await container(['volume', 'create', volume])).stdout).toBe(volume)
    await runDetached(name, ['--cpus', '1', '--memory', '256M', '-v', `${host}:/data:ro`, '-v', `${volume}:/vol`, '--mount', 'type=tmpfs,target=/scratch,size=16M', '--network', net, '--network', 'default'])

    const { configuration } = await inspect(name)
    expect(configuration.resources).toEqual({ cpus: 1, memoryInBytes: 256 * 1024 ** 2 })
    expect(configuration.networks.map((entry: { network: string }) => entry.network)).toEqual([net, 'default'])
    expect(configuration.mounts).toEqual([
      { destination: '/data', options: ['ro'], source: host, type: { virtiofs: {} } },
      { destination: '/vol', options: [], source: expect.any(String), type: { volume: { cache: { on: {} }, format: 'ext4', name: volume, sync: { fsync: {} } } } },
      { destination: '/scratch', options: [`size=${16 * 1024 ** 2}`], source: 'tmpfs', type: { tmpfs: {} } },
    ])
    const networkList = JSON.parse(String((await container(['network', 'list', '--format', 'json'])).stdout))
    expect(networkList.find((entry: { id: string }) => entry.id === net)?.configuration.mode).toBe('hostOnly')

    // Done, not only shown: the engine enforces them.
    const inside = await container(['exec', name, 'sh', '-c', 'cat /data/seen; echo; touch /data/x 2>/dev/null && echo writable || echo read-only; echo v > /vol/v && cat /vol/v; df -k /scratch | tail -1'])
    expect(String(inside.stdout).split('\n').slice(0, 3)).toEqual(['from the host', 'read-only', 'v'])
    expect(String(inside.stdout)).toMatch(/tmpfs\s+16384/)
    const limits = (await execa('docker', ['inspect', '--format', '{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}', `apple-${name}`])).stdout
    expect(limits).toBe(`1000000000 ${256 * 1024 ** 2}`)
    expect((await container(['volume', 'delete', volume])).exitCode).not.toBe(0) // in use
  })

  it('keeps --read-only and the DNS flags in the configuration (dns left out with --no-dns, refused next to a DNS flag)', async () => {
    const name = containerName('dns')
    await runDetached(name, ['--read-only', '--dns', '10.0.0.53', '--dns-domain', 'corp.example', '--dns-search', 'corp.example', '--dns-option', 'ndots:2'])
    const { configuration } = await inspect(name)
    expect(configuration.readOnly).toBe(true)
    expect(configuration.dns).toEqual({ nameservers: ['10.0.0.53'], domain: 'corp.example', searchDomains: ['corp.example'], options: ['ndots:2'] })
    const inside = await container(['exec', name, 'sh', '-c', 'touch /x 2>/dev/null && echo writable || echo read-only; grep -E "^(nameserver|search|options)" /etc/resolv.conf'])
    const [root, ...resolv] = String(inside.stdout).split('\n')
    expect(root).toBe('read-only')
    expect(resolv.sort()).toEqual(['nameserver 10.0.0.53', 'options ndots:2', 'search corp.example'])

    const plain = containerName('dns-plain')
    await runDetached(plain)
    expect((await inspect(plain)).configuration).toMatchObject({ readOnly: false, dns: { nameservers: [], searchDomains: [], options: [] } })
    const none = containerName('dns-none')
    await runDetached(none, ['--no-dns'])
    expect((await inspect(none)).configuration).not.toHaveProperty('dns')
    const both = await container(['run', '-d', '--name', containerName('dns-both'), '--no-dns', '--dns', '10.0.0.53', BASE_IMAGE, ...KEEP_RUNNING])
    expect(both.exitCode).toBe(64)
    expect(String(both.stderr)).toContain('--no-dns cannot be used with DNS configuration flags')
  })

  it('makes a missing named volume, with a warning, and runs on no network with --network none', async () => {
    const name = containerName('auto')
    const volume = `emu-auto-${suffix}`
    volumes.add(volume)
    const result = await container(['run', '-d', '--name', name, '--network', 'none', '-v', `${volume}:/v`, BASE_IMAGE, ...KEEP_RUNNING])
    expect(result.exitCode).toBe(0)
    expect(result.stderr).toContain(`named volume was automatically created volume=${volume}`)
    expect((await container(['volume', 'inspect', volume])).exitCode).toBe(0)
    expect((await inspect(name)).configuration.networks).toEqual([])
  })

  it('lists in json, table, yaml and toml', async () => {
    const name = containerName('formats')
    await runDetached(name)
    expect(String((await container(['list', '--format', 'yaml'])).stdout)).toMatch(new RegExp(`id: ${name}`))
    expect(String((await container(['list', '--format', 'toml'])).stdout)).toContain(`"id" = "${name}"`)
    expect(String((await container(['list'])).stdout)).toMatch(new RegExp(`^${name}\\s`, 'm'))
    expect(String((await container(['image', 'list', '--format', 'yaml'])).stdout)).toContain('configuration:')
  })
})

describe('exec', () => {
  it('streams a tar of / out of a running container, byte-exact', async () => {
    const name = containerName('tar')
    await runDetached(name)
    // ~100 MB: streamed into tar, never collected in memory.
    const listing = await execa('container', ['exec', '--user', 'root', name, ...ROOTFS_TAR], { env, buffer: false }).pipe('tar', ['-tf', '-'])
    const entries = listing.stdout.split('\n')
    expect(entries).toContain('./etc/os-release')
    expect(entries.some((entry) => entry.startsWith('./proc/'))).toBe(false)

    // The same archive through the emulator and straight from docker: identical bytes.
    const etc = ['tar', '-C', '/', '-cf', '-', './etc']
    const viaEmulator = await containerBytes(['exec', '-u', 'root', name, ...etc])
    const viaDocker = await execa('docker', ['exec', '-u', 'root', `apple-${name}`, ...etc], { encoding: 'buffer' })
    expect(viaEmulator.exitCode).toBe(0)
    expect(viaEmulator.stdout.length).toBeGreaterThan(10_000)
    expect(sha256(viaEmulator.stdout)).toBe(sha256(viaDocker.stdout))

    // Random binary data survives unchanged.
    await container(['exec', name, 'sh', '-c', 'head -c 3000000 /dev/urandom > /tmp/blob'])
    const blob = await containerBytes(['exec', name, 'cat', '/tmp/blob'])
    const inside = await container(['exec', name, 'sha256sum', '/tmp/blob'])
    expect(blob.stdout.length).toBe(3_000_000)
    expect(String(inside.stdout).split(' ')[0]).toBe(sha256(blob.stdout))
  })

  it('passes exit codes, stderr and options through, and streams output as it comes', async () => {
    const name = containerName('codes')
    await runDetached(name)
    const failed = await container(['exec', '-e', 'X=42', '-w', '/etc', name, 'sh', '-c', 'pwd; echo oops >&2; exit $X'])
    expect(failed.exitCode).toBe(42)
    expect(failed.stdout).toBe('/etc')
    expect(failed.stderr).toBe('oops')

    // Output arrives before the command ends: the second line waits for a file the test writes
    // after it has seen the first (no timing involved).
    const subprocess = execa('container', ['exec', name, 'sh', '-c', 'echo first; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo second'], { env })
    await new Promise<void>((done) => subprocess.stdout.once('data', () => done()))
    await container(['exec', name, 'touch', '/tmp/go'])
    expect((await subprocess).stdout).toBe('first\nsecond')
  })

  it('refuses options after the container name, and exec into a missing container', async () => {
    const name = containerName('refuse')
    await runDetached(name)
    const misplaced = await container(['exec', name, '--user', 'root', 'id'])
    expect(misplaced.exitCode).not.toBe(0)
    expect(misplaced.stderr).toMatch(/^Error: Unknown option '--user' after the container ID/)

    const missing = await container(['exec', `emu-missing-${suffix}`, 'true'])
    expect(missing.exitCode).not.toBe(0)
    expect(missing.stderr).toBe(`Error: get failed: container emu-missing-${suffix} not found`)

    const noCommand = await container(['exec', name])
    expect(noCommand.exitCode).not.toBe(0)
    expect(noCommand.stderr).toMatch(/^Error: Missing expected argument '<arguments> \.\.\.'/)
  })
})

describe('images', () => {
  it('saves an OCI image-layout tar and loads it back under the same reference', async () => {
    const ref = imageRef('save')
    expect((await container(['image', 'tag', BASE_IMAGE, ref])).exitCode).toBe(0)
    const archive = join(tempDir(), 'image.tar')

    const saved = await container(['image', 'save', '-o', archive, ref])
    expect(saved.exitCode).toBe(0)
    const members = (await execa('tar', ['-tf', archive])).stdout.split('\n')
    expect(members).toEqual(expect.arrayContaining(['oci-layout', 'index.json']))
    expect(members.some((member) => member.startsWith('blobs/sha256/') && member.length > 'blobs/sha256/'.length)).toBe(true)
    expect(members).not.toContain('manifest.json')
    const index = JSON.parse((await execa('tar', ['-xOf', archive, 'index.json'])).stdout)
    expect(index.manifests[0].annotations['org.opencontainers.image.ref.name']).toBe(`docker.io/library/${ref}`)

    // Without -o the archive goes to stdout.
    const toStdout = await containerBytes(['image', 'save', ref])
    expect(toStdout.exitCode).toBe(0)
    const streamedMembers = (await execa('tar', ['-tf', '-'], { input: toStdout.stdout })).stdout.split('\n')
    expect(streamedMembers).toEqual(expect.arrayContaining(['oci-layout', 'index.json']))

    expect((await container(['image', 'delete', ref])).exitCode).toBe(0)
    expect((await container(['image', 'inspect', ref])).exitCode).not.toBe(0)

    const loaded = await container(['image', 'load', '-i', archive])
    expect(loaded.exitCode).toBe(0)
    expect(String(loaded.stdout).split('\n')).toContain(`docker.io/library/${ref}`)
    const inspected = await container(['image', 'inspect', ref])
    expect(inspected.exitCode).toBe(0)
    const [detail] = JSON.parse(String(inspected.stdout))
    expect(detail.configuration.name).toBe(`docker.io/library/${ref}`)
    expect(detail.variants[0].config.config.Cmd).toEqual(['bash'])
  })

  it('inspects an image in the 1.x shape: id, configuration {name, descriptor, creationDate}, variants [{platform, digest, size, config}]', async () => {
    const [image] = JSON.parse(String((await container(['image', 'inspect', BASE_IMAGE])).stdout))
    const dockerId = (await execa('docker', ['image', 'inspect', '--format', '{{.Id}}', BASE_IMAGE])).stdout
    expect(Object.keys(image).sort()).toEqual(['configuration', 'id', 'variants'])
    expect(image.id).toBe(dockerId.replace(/^sha256:/, ''))
    expect(image.configuration).toMatchObject({ name: `docker.io/library/${BASE_IMAGE}`, descriptor: { digest: dockerId, mediaType: 'application/vnd.oci.image.index.v1+json' } })
    expect(image.configuration.creationDate).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    expect(image.variants).toHaveLength(1)
    expect(image.variants[0]).toMatchObject({ platform: { os: 'linux' }, digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), size: expect.any(Number) })
    expect(image.variants[0].digest).not.toBe(dockerId)
    const [listed] = JSON.parse(String((await container(['image', 'list', '--format', 'json'])).stdout)).filter((entry: { configuration: { name: string } }) => entry.configuration.name === `docker.io/library/${BASE_IMAGE}`)
    expect(listed).toEqual(image)
  })

  it('shows a multi-platform image with one variant per platform, the other platforms first', async () => {
    const decoy = imageRef('decoy')
    const multi = imageRef('multi')
    const build = async (tag: string, dockerfile: string) => execa('docker', ['build', '-q', '-t', tag, '-'], { input: dockerfile, env: { DOCKER_BUILDKIT: '0' } })
    await build(decoy, `FROM ${BASE_IMAGE}\nUSER nobody\nENV WHICH=decoy\n`)
    await build(multi, `FROM ${BASE_IMAGE}\nENV WHICH=native\nLABEL bottle-tasks.emulator.variant.linux/riscv64=${decoy}\n`)
    const [image] = JSON.parse(String((await container(['image', 'inspect', multi])).stdout))
    const native = (await execa('docker', ['image', 'inspect', '--format', '{{.Architecture}}', multi])).stdout
    expect(image.variants.map((variant: { platform: { architecture: string } }) => variant.platform.architecture)).toEqual(['riscv64', native])
    expect(image.variants[0].config.config).toMatchObject({ User: 'nobody', Env: expect.arrayContaining(['WHICH=decoy']) })
    expect(image.variants[1].config.config.Env).toContain('WHICH=native')
  })

  it('fails image inspect of a missing image with the message', async () => {
    const result = await container(['image', 'inspect', `emu-missing-${suffix}:1`])
    expect(result.exitCode).not.toBe(0)
    expect(result.stdout).toBe('')
    expect(result.stderr).toBe(`Error: image not found: emu-missing-${suffix}:1`)
  })

  it('builds FROM scratch from an exec-tar, keeping the config the Dockerfile restates (the commit path)', async () => {
    const name = containerName('commit')
    await runDetached(name, [], AGENT_IMAGE)
    await container(['exec', name, 'sh', '-c', 'echo kept > /root/marker && sync'])
    const context = tempDir()
    // Straight into the file, as the backend streams it: ~100 MB never collected in memory.
    const tarball = await execa('container', ['exec', '--user', 'root', name, ...ROOTFS_TAR], {
      env,
      reject: false,
      buffer: { stdout: false },
      stdout: { file: join(context, 'rootfs.tar') },
    })
    expect(tarball.stderr).toBe('')
    expect(tarball.exitCode).toBe(0)

    const base = JSON.parse(String((await container(['image', 'inspect', AGENT_IMAGE])).stdout))[0].variants[0].config.config
    writeFileSync(
      join(context, 'Dockerfile'),
      [
        'FROM scratch',
        'ADD rootfs.tar /',
        ...base.Env.map((entry: string) => `ENV ${entry.split('=', 1)[0]}=${JSON.stringify(entry.slice(entry.indexOf('=') + 1))}`),
        'USER node',
        'WORKDIR /home/node',
        `CMD ${JSON.stringify(base.Cmd)}`,
        '',
      ].join('\n'),
    )
    const ref = imageRef('committed')
    const built = await container(['build', '-t', ref, '-f', join(context, 'Dockerfile'), context])
    expect(built.exitCode).toBe(0)
    expect(built.stdout).toBe(`docker.io/library/${ref}`)

    const config = JSON.parse(String((await container(['image', 'inspect', ref])).stdout))[0].variants[0].config.config
    expect(config).toMatchObject({ User: 'node', WorkingDir: '/home/node', Cmd: ['bash'] })
    const resumed = containerName('resumed')
    const run = await container(['run', '--rm', '--name', resumed, '--user', 'root', ref, 'cat', '/root/marker'])
    expect(run.stdout).toBe('kept')
    expect(run.exitCode).toBe(0)
  })
})

describe('networks and volumes', () => {
  it('creates, lists, inspects and deletes networks and volumes, and refuses what the real tool refuses', async () => {
    const net = `emu-n-${suffix}`
    const volume = `emu-v-${suffix}`
    networks.add(net)
    volumes.add(volume)
    expect((await container(['network', 'create', net])).stdout).toBe(net)
    expect((await container(['network', 'create', net])).stderr).toBe(`Error: network ${net} already exists`)
    const [described] = JSON.parse(String((await container(['network', 'inspect', net])).stdout))
    expect(described).toMatchObject({ id: net, configuration: { id: net, mode: 'nat' } })
    expect(JSON.parse(String((await container(['network', 'inspect', 'default'])).stdout))[0].configuration.mode).toBe('nat')
    expect((await container(['network', 'delete', net])).exitCode).toBe(0)
    expect((await container(['network', 'inspect', net])).stderr).toBe(`Error: network ${net} not found`)
    expect((await container(['network', 'create', 'Upper'])).stderr).toBe('Error: invalid network ID: Upper')

    expect((await container(['volume', 'create', volume])).stdout).toBe(volume)
    expect((await container(['volume', 'create', volume])).stderr).toBe(`Error: volume '${volume}' already exists`)
    expect(JSON.parse(String((await container(['volume', 'inspect', volume])).stdout))[0]).toMatchObject({ name: volume, driver: 'local', format: 'ext4' })
    expect((await container(['volume', 'delete', volume])).stdout).toBe(volume)
    expect((await container(['volume', 'inspect', volume])).stderr).toBe(`Error: volume '${volume}' not found`)
  })
})

describe('refusals, as the real CLI refuses', () => {
  const dir = tempDir()
  const file = join(dir, 'a-file')
  writeFileSync(file, '')
  mkdirSync(join(dir, 'a-dir'))
  it.each([
    [['images'], /^Error: Plugin 'container-images' not found\./],
    [['run', '--bogus', BASE_IMAGE], /^Error: Unknown option '--bogus'/],
    [['run', '--name', 'bad name!', BASE_IMAGE], /^Error: invalid container name 'bad name!'/],
    [['run', '--name', 'x'.repeat(64), BASE_IMAGE], /^Error: invalid container name/],
    [['run', '-d'], /^Error: Missing expected argument '<image>'/],
    [['run', '-d', '-l', 'meta={"a":"b=c"}', BASE_IMAGE], /^Error: invalid label format meta=\{"a":"b=c"\}/],
    [['run', '-d', '-l', '', BASE_IMAGE], /^Error: label cannot be an empty string/],
    [['run', '-d', '--network', `emu-nonet-${suffix}`, BASE_IMAGE], new RegExp(`^Error: network emu-nonet-${suffix} not found`)],
    [['run', '-d', '--network', 'none', '--network', 'default', BASE_IMAGE], /^Error: no other networks may be created along with network none/],
    [['run', '-d', '--network', 'default,mtu=99', BASE_IMAGE], /^Error: invalid mtu value '99'/],
    [['run', '-d', '-v', `${dir}/gone:/x`, BASE_IMAGE], /^Error: path '.*\/gone' does not exist/],
    [['run', '-d', '-v', 'bad*name:/x', BASE_IMAGE], /^Error: invalid volume name 'bad\*name'/],
    [['run', '-d', '--mount', `source=${file},target=/x`, BASE_IMAGE], /^Error: path '.*a-file' is not a directory/],
    [['run', '-d', '--mount', `type=bind,source=${dir}/a-dir,target=/x,bogus=1`, BASE_IMAGE], /^Error: unknown directive bogus when parsing mount/],
    [['run', '-d', '--mount', 'type=tmpfs,source=/x,target=/y', BASE_IMAGE], /^Error: cannot specify source for tmpfs mount/],
    [['run', '-d', '--memory', '12q', BASE_IMAGE], /^Error: invalid symbol: q/],
    [['run', '-d', '--cpus', 'two', BASE_IMAGE], /^Error: The value 'two' is invalid for '-c <cpus>'/],
    [['run', '-d', '--cpus', '0', BASE_IMAGE], /cpus must be at least 1 \(got 0\)/],
    [['run', '-d', '--memory', '128M', BASE_IMAGE], /^Error: minimum memory amount allowed is 200 MiB \(got 134217728 bytes\)/],
    [['stop', `emu-missing-${suffix}`], new RegExp(`^Error: container with ID emu-missing-${suffix} not found`)],
    [['delete', `emu-missing-${suffix}`], new RegExp(`^Error: container with ID emu-missing-${suffix} not found`)],
    [['start', `emu-missing-${suffix}`], new RegExp(`^Error: get failed: container emu-missing-${suffix} not found`)],
    [['run', '-d', '--entrypoint', '', 'scratch-missing'], /^Error: image not found: scratch-missing/],
    [['exec', '--bogus', 'x', 'true'], /^Error: Unknown option '--bogus'/],
    [['list', '--format', 'xml'], /^Error: The value 'xml' is invalid for '--format <format>'/],
    [['list', '--json'], /^Error: Unknown option '--json'/],
    [['stop'], /^Error: no containers specified and --all not supplied/],
    [['image', 'list', '--bogus'], /^Error: Unknown option '--bogus'/],
    [['image', 'list', '-q', '--format', 'json'], /^Error: cannot use flag --quiet or --verbose along with --format json/],
    [['image', 'frobnicate'], /^Error: Unexpected argument 'frobnicate'/],
    [['image', 'load', '--bogus'], /^Error: Unknown option '--bogus'/],
    [['run', '-p', '80:80', BASE_IMAGE], /^Error: Option '-p' of 'container run' is real but not supported/],
  ])('refuses container %j', async (args, message) => {
    const result = await container(args)
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toMatch(message)
    expect(result.stdout).toBe('')
  })
})

describe('image load input', () => {
  it('refuses an archive that is not an OCI layout (a legacy docker save tarball)', async () => {
    // What engines before 25 write: manifest.json, no oci-layout or index.json.
    const dir = tempDir()
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: [BASE_IMAGE], Layers: [] }]))
    const archive = join(dir, 'docker-save.tar')
    await execa('tar', ['-C', dir, '-cf', archive, 'manifest.json'])
    const result = await container(['image', 'load', '-i', archive])
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toMatch(/not an OCI image layout/)
    expect(readFileSync(archive).length).toBeGreaterThan(0)
  })
})
