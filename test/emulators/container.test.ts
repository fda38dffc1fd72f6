// The `container` emulator behaves like Apple's CLI (1.2.x) where the macos-container backend
// depends on it: kept stopped containers, byte-exact streamed exec, OCI-layout save/load, and
// refusals of what the real tool refuses. Runs against the real Docker engine underneath.
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { execa } from 'execa'
import { afterAll, describe, expect, it } from 'vitest'

const EMULATORS = resolve(import.meta.dirname)
const BASE_IMAGE = process.env.BOTTLE_TASKS_TEST_IMAGE ?? 'debian:bookworm-slim'
const env = { PATH: `${EMULATORS}:${process.env.PATH ?? ''}` }
const ROOTFS_TAR = ['tar', '-C', '/', '-cf', '-', '--exclude=./proc', '--exclude=./sys', '--exclude=./dev', '--exclude=./run', '.']

const suffix = Math.random().toString(36).slice(2, 8)
const containers = new Set<string>()
const images = new Set<string>()
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

async function runDetached(name: string, ...extra: string[]): Promise<void> {
  const result = await container(['run', '-d', '--name', name, ...extra, BASE_IMAGE])
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

afterAll(async () => {
  const dockerNames = [...containers].map((name) => `apple-${name}`)
  if (dockerNames.length > 0) await execa('docker', ['rm', '-f', ...dockerNames], { reject: false })
  if (images.size > 0) await execa('docker', ['image', 'rm', '-f', ...images], { reject: false })
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
})

describe('containers', () => {
  it('keeps a container started without --rm after it stops: list -a shows it, list and exec do not take it', async () => {
    const name = containerName('keep')
    await runDetached(name, '-l', 'purpose=test', '-e', 'FOO=bar')
    expect(await listIds()).toContain(name)
    const running = (await listJson()).find((entry) => entry.id === name)
    expect(running).toMatchObject({
      id: name,
      configuration: { id: name, image: { reference: `docker.io/library/${BASE_IMAGE}` }, labels: { purpose: 'test' } },
      status: { state: 'running' },
    })
    // The default command is an interactive shell: it must still be up a moment later.
    await new Promise((done) => setTimeout(done, 1000))
    expect(await listIds()).toContain(name)

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

  it('deletes a --rm container when it stops', async () => {
    const name = containerName('rm')
    await runDetached(name, '--rm')
    expect((await container(['stop', '-t', '1', name])).exitCode).toBe(0)
    expect(await listIds('-a')).not.toContain(name)
    expect((await execa('docker', ['container', 'inspect', `apple-${name}`], { reject: false })).exitCode).not.toBe(0)
  })

  it('describes a container with inspect: image, labels and the init process', async () => {
    const name = containerName('inspect')
    await runDetached(name, '-l', 'a=b', '-e', 'FOO=bar', '-u', 'node', '-w', '/tmp')
    const result = await container(['inspect', name])
    expect(result.exitCode).toBe(0)
    const [described] = JSON.parse(String(result.stdout))
    expect(described).toMatchObject({
      id: name,
      configuration: {
        id: name,
        image: { reference: `docker.io/library/${BASE_IMAGE}` },
        labels: { a: 'b' },
        initProcess: { executable: 'bash', arguments: [], user: { raw: { userString: 'node' } }, workingDirectory: '/tmp' },
      },
      status: { state: 'running' },
    })
    expect(described.configuration.initProcess.environment).toContain('FOO=bar')
    expect(described.configuration.labels).not.toHaveProperty('bottle-tasks.emulator')

    const missing = await container(['inspect', `emu-missing-${suffix}`])
    expect(missing.exitCode).not.toBe(0)
    expect(missing.stderr).toBe(`Error: container not found: emu-missing-${suffix}`)
  })
})

describe('exec', () => {
  const name = containerName('exec')

  it('streams a tar of / out of a running container, byte-exact', async () => {
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
    const failed = await container(['exec', '-e', 'X=42', '-w', '/etc', name, 'sh', '-c', 'pwd; echo oops >&2; exit $X'])
    expect(failed.exitCode).toBe(42)
    expect(failed.stdout).toBe('/etc')
    expect(failed.stderr).toBe('oops')

    const started = Date.now()
    const subprocess = execa('container', ['exec', name, 'sh', '-c', 'echo first; sleep 3; echo second'], { env })
    const firstChunkAfter = await new Promise<number>((done) => subprocess.stdout.once('data', () => done(Date.now() - started)))
    await subprocess
    expect(firstChunkAfter).toBeLessThan(2500)
  })

  it('refuses options after the container name, and exec into a missing container', async () => {
    const misplaced = await container(['exec', name, '--user', 'root', 'id'])
    expect(misplaced.exitCode).not.toBe(0)
    expect(misplaced.stderr).toMatch(/^Error: Unknown option '--user' after the container ID/)

    const missing = await container(['exec', `emu-missing-${suffix}`, 'true'])
    expect(missing.exitCode).not.toBe(0)
    expect(missing.stderr).toBe(`Error: container not found: emu-missing-${suffix}`)

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
    expect(detail.name).toBe(`docker.io/library/${ref}`)
    expect(detail.variants[0].config.config.Cmd).toEqual(['bash'])
  })

  it('fails image inspect of a missing image with the message', async () => {
    const result = await container(['image', 'inspect', `emu-missing-${suffix}:1`])
    expect(result.exitCode).not.toBe(0)
    expect(result.stdout).toBe('')
    expect(result.stderr).toBe(`Error: image not found: emu-missing-${suffix}:1`)
  })

  it('builds FROM scratch from an exec-tar, keeping the config the Dockerfile restates (the commit path)', async () => {
    const name = containerName('commit')
    await runDetached(name)
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

    const base = JSON.parse(String((await container(['image', 'inspect', BASE_IMAGE])).stdout))[0].variants[0].config.config
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

describe('refusals, as the real CLI refuses', () => {
  it.each([
    [['images'], /^Error: Plugin 'container-images' not found\./],
    [['run', '--bogus', BASE_IMAGE], /^Error: Unknown option '--bogus'/],
    [['run', '--name', 'bad name!', BASE_IMAGE], /^Error: invalid container name 'bad name!'/],
    [['run', '--name', 'x'.repeat(64), BASE_IMAGE], /^Error: invalid container name/],
    [['run', '-d'], /^Error: Missing expected argument '<image>'/],
    [['exec', '--bogus', 'x', 'true'], /^Error: Unknown option '--bogus'/],
    [['list', '--format', 'yaml'], /^Error: The value 'yaml' is invalid for '--format <format>'/],
    [['list', '--json'], /^Error: Unknown option '--json'/],
    [['stop'], /^Error: no containers specified and --all not supplied/],
    [['image', 'list', '--bogus'], /^Error: Unknown option '--bogus'/],
    [['image', 'list', '-q', '--format', 'json'], /^Error: cannot use flag --quiet or --verbose along with --format json/],
    [['image', 'frobnicate'], /^Error: Unexpected argument 'frobnicate'/],
    [['image', 'load', '--bogus'], /^Error: Unknown option '--bogus'/],
    [['run', '-v', '/tmp:/tmp', BASE_IMAGE], /^Error: Option '-v' of 'container run' is real but not supported/],
  ])('refuses container %j', async (args, message) => {
    const result = await container(args)
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toMatch(message)
    expect(result.stdout).toBe('')
  })
})

describe('image load input', () => {
  it('refuses an archive that is not an OCI layout (a docker save tarball)', async () => {
    const archive = join(tempDir(), 'docker-save.tar')
    await execa('sh', ['-c', `docker save ${BASE_IMAGE} > ${archive}`])
    const result = await container(['image', 'load', '-i', archive])
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toMatch(/not an OCI image layout/)
    expect(readFileSync(archive).length).toBeGreaterThan(0)
  })
})
