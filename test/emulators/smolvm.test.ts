// Proves that the smolvm emulator (test/emulators/smolvm) behaves the way the smolmachines backend
// relies on, against the real Docker engine and a real loopback registry.
import { execa } from 'execa'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'

const EMULATORS = resolve(import.meta.dirname)
const ROOT = resolve(EMULATORS, '..', '..')
const BASE_IMAGE = process.env.BOTTLE_TASKS_TEST_IMAGE ?? 'debian:bookworm-slim'
const AGENT_IMAGE = inject('agentImage')
const ENV: Record<string, string> = { ...(process.env as Record<string, string>), PATH: `${EMULATORS}:${process.env.PATH}` }

interface Run {
  exitCode: number
  stdout: string
  stderr: string
}

async function smolvm(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const r = await execa('smolvm', args, { env: { ...ENV, ...options.env }, reject: false, input: options.input ?? '' })
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr }
}

async function docker(...args: string[]): Promise<Run> {
  const r = await execa('docker', args, { reject: false })
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr }
}

// --- per-test bookkeeping: everything made is removed in afterEach ----------------------------------
const machines = new Set<string>()
const images = new Set<string>()
const paths = new Set<string>()

function machineName(prefix = 'emu'): string {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`
  machines.add(name)
  return name
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'smolvm-emu-test-'))
  paths.add(dir)
  return dir
}

afterEach(async () => {
  for (const name of machines) {
    await smolvm(['machine', 'delete', '--name', name, '-f'])
    await docker('rm', '-f', `smolvm-${name}`)
  }
  machines.clear()
  for (const ref of images) await docker('image', 'rm', '-f', ref)
  images.clear()
  for (const p of paths) rmSync(p, { recursive: true, force: true })
  paths.clear()
})

async function ls(): Promise<Array<Record<string, unknown>>> {
  const r = await smolvm(['machine', 'ls', '--json'])
  expect(r.exitCode).toBe(0)
  return JSON.parse(r.stdout)
}

async function entry(name: string): Promise<Record<string, unknown> | undefined> {
  return (await ls()).find((m) => m.name === name)
}

async function createStarted(extra: string[] = []): Promise<string> {
  const name = machineName()
  expect((await smolvm(['machine', 'create', '--name', name, ...extra])).exitCode).toBe(0)
  expect((await smolvm(['machine', 'start', '--name', name])).exitCode).toBe(0)
  return name
}

describe('smolvm emulator: machine lifecycle', () => {
  it('create does not start; start, exec, stop, delete, with the state in ls --json', async () => {
    const name = machineName()
    const created = await smolvm(['machine', 'create', '--name', name, '--cpus', '2', '--mem', '1024', '-e', 'FOO=bar', '--label', 'owner=bottle-tasks'])
    expect(created.exitCode).toBe(0)
    expect(created.stdout).toContain(`Created machine: ${name}`)

    const e = await entry(name)
    expect(e).toMatchObject({ name, state: 'created', cpus: 2, memory_mib: 1024, image: null, network: false, labels: { owner: 'bottle-tasks' } })
    expect(typeof e?.created_at).toBe('number')

    const notYet = await smolvm(['machine', 'exec', '--name', name, '--', 'true'])
    expect(notYet.exitCode).toBe(1)
    expect(notYet.stderr).toContain(`Error: machine '${name}' is not running. Use 'smolvm machine start --name ${name}' first.`)

    expect((await smolvm(['machine', 'start', '--name', name])).exitCode).toBe(0)
    expect((await entry(name))?.state).toBe('running')
    const again = await smolvm(['machine', 'start', '-n', name])
    expect(again.exitCode).toBe(0)
    expect(again.stdout).toContain('already running')

    const who = await smolvm(['machine', 'exec', '--name', name, '--', 'sh', '-c', 'id -u; echo "$FOO"'])
    expect(who.exitCode).toBe(0)
    expect(who.stdout).toBe('0\nbar')

    const status = await smolvm(['machine', 'status', '--name', name, '--json'])
    expect(status.exitCode).toBe(0)
    expect(JSON.parse(status.stdout)).toMatchObject({ name, state: 'running' })

    expect((await smolvm(['machine', 'stop', '--name', name])).exitCode).toBe(0)
    expect((await entry(name))?.state).toBe('stopped')
    const stopAgain = await smolvm(['machine', 'stop', '--name', name])
    expect(stopAgain.exitCode).toBe(0)
    expect(stopAgain.stdout).toContain('is not running')

    const stopped = await smolvm(['machine', 'exec', '--name', name, '--', 'true'])
    expect(stopped.exitCode).toBe(1)
    expect(stopped.stderr).toContain(`machine '${name}' is not running. Use 'smolvm machine start --name ${name}' first.`)
    expect((await entry(name))?.state).toBe('stopped') // exec did not start it

    const del = await smolvm(['machine', 'rm', '--name', name, '-f'])
    expect(del.exitCode).toBe(0)
    expect(await entry(name)).toBeUndefined()
    expect((await docker('container', 'inspect', `smolvm-${name}`)).exitCode).not.toBe(0)
  })

  it('exec passes the guest exit status through and buffers output', async () => {
    const name = await createStarted()
    const r = await smolvm(['machine', 'exec', '--name', name, '--', 'sh', '-c', 'echo out; echo err >&2; exit 7'])
    expect(r.exitCode).toBe(7)
    expect(r.stdout).toBe('out')
    expect(r.stderr).toBe('err')
    const wd = await smolvm(['machine', 'exec', '--name', name, '-w', '/tmp', '-e', 'A=1', '--', 'sh', '-c', 'pwd; echo $A'])
    expect(wd.stdout).toBe('/tmp\n1')
    const streamed = await smolvm(['machine', 'exec', '--name', name, '--stream', '--', 'sh', '-c', 'echo live'])
    expect(streamed).toMatchObject({ exitCode: 0, stdout: 'live' })
    const timedOut = await smolvm(['machine', 'exec', '--name', name, '--timeout', '1s', '--', 'sleep', '30'])
    expect(timedOut.exitCode).toBe(124)
    expect(timedOut.stderr).toContain('timed out')
  })

  it('exec -i hands piped stdin to the command, then EOF; without -i the command reads nothing', async () => {
    // How bottle-tasks hands host values in: on stdin, never on an argv.
    const name = await createStarted()
    const value = `it's a "value" with\nlines $HOME`
    const written = await smolvm(['machine', 'exec', '--name', name, '-i', '--', 'sh', '-c', 'cat > /run/handed; echo done'], { input: value })
    expect(written).toMatchObject({ exitCode: 0, stdout: 'done' })
    expect((await smolvm(['machine', 'exec', '--name', name, '--', 'cat', '/run/handed'])).stdout).toBe(value)
    const unread = await smolvm(['machine', 'exec', '--name', name, '--', 'sh', '-c', 'wc -c'], { input: value })
    expect(unread.stdout.trim()).toBe('0')
  })

  it('delete without -f asks, cancels on empty stdin (exit 0) and keeps the machine', async () => {
    const name = await createStarted()
    const cancelled = await smolvm(['machine', 'delete', '--name', name], { input: '' })
    expect(cancelled.exitCode).toBe(0)
    expect(cancelled.stderr).toContain(`Delete machine '${name}'? [y/N]`)
    expect(cancelled.stdout).toContain('Cancelled')
    expect(await entry(name)).toBeDefined()
    const no = await smolvm(['machine', 'delete', '--name', name], { input: 'n\n' })
    expect(no.stdout).toContain('Cancelled')
    expect(await entry(name)).toBeDefined()
    const yes = await smolvm(['machine', 'delete', '--name', name], { input: 'y\n' })
    expect(yes.exitCode).toBe(0)
    expect(await entry(name)).toBeUndefined()
  })

  it('refuses a duplicate name, bad names and unknown machines', async () => {
    const name = machineName()
    expect((await smolvm(['machine', 'create', '--name', name])).exitCode).toBe(0)
    const dup = await smolvm(['machine', 'create', '--name', name])
    expect(dup.exitCode).toBe(1)
    expect(dup.stderr).toContain(`Error: machine '${name}' already exists or is being created`)
    for (const bad of ['-lead', 'a--b', 'trail-', 'has.dot', 'x'.repeat(129), '_under']) {
      const r = await smolvm(['machine', 'create', `--name=${bad}`])
      expect(r.exitCode, bad).not.toBe(0)
    }
    const unknown = `nope-${randomBytes(3).toString('hex')}`
    const start = await smolvm(['machine', 'start', '--name', unknown])
    expect(start.exitCode).toBe(1)
    expect(start.stderr).toBe(`Error: vm not found: ${unknown}`)
    const del = await smolvm(['machine', 'delete', '--name', unknown, '-f'])
    expect(del.exitCode).toBe(1)
    expect(del.stderr).toContain(`vm not found: ${unknown}`)
    // stop, exec and cp of an unknown machine fail the same way (stop_vm_named, ensure_running_and_connect)
    for (const args of [['machine', 'stop', '--name', unknown], ['machine', 'exec', '--name', unknown, '--', 'true'], ['machine', 'cp', `${unknown}:/etc/hostname`, join(tempDir(), 'h')]]) {
      const result = await smolvm(args)
      expect(result.exitCode, args.join(' ')).toBe(1)
      expect(result.stderr, args.join(' ')).toBe(`Error: vm not found: ${unknown}`)
    }
  })
})

describe('smolvm emulator: machine cp', () => {
  it('copies single files for real, both directions', async () => {
    const name = await createStarted()
    const dir = tempDir()
    const payload = randomBytes(3 * 1024 * 1024)
    // An executable on the host arrives as root's 0644 all the same (no --mode: "default (0644)").
    writeFileSync(join(dir, 'up.bin'), payload, { mode: 0o755 })
    const up = await smolvm(['machine', 'cp', join(dir, 'up.bin'), `${name}:/var/tmp/up.bin`])
    expect(up.exitCode).toBe(0)
    const sum = await smolvm(['machine', 'exec', '--name', name, '--', 'sh', '-c', 'sha256sum /var/tmp/up.bin; stat -c %u:%g:%a /var/tmp/up.bin'])
    const hash = (await execa('sha256sum', [join(dir, 'up.bin')])).stdout.split(' ')[0]
    expect(sum.stdout).toBe(`${hash}  /var/tmp/up.bin\n0:0:644`)

    expect((await smolvm(['machine', 'exec', '--name', name, '--', 'sh', '-c', 'head -c 2000000 /dev/urandom > /var/tmp/down.bin'])).exitCode).toBe(0)
    const down = await smolvm(['machine', 'cp', `${name}:/var/tmp/down.bin`, join(dir, 'down.bin')])
    expect(down.exitCode).toBe(0)
    const guestHash = (await smolvm(['machine', 'exec', '--name', name, '--', 'sha256sum', '/var/tmp/down.bin'])).stdout.split(' ')[0]
    expect((await execa('sha256sum', [join(dir, 'down.bin')])).stdout.split(' ')[0]).toBe(guestHash)
    expect(statSync(join(dir, 'down.bin')).size).toBe(2000000)

    // single files only, exactly one remote side, the machine must run
    expect((await smolvm(['machine', 'cp', `${name}:/etc`, join(dir, 'etc')])).exitCode).toBe(1)
    expect(existsSync(join(dir, 'etc'))).toBe(false)
    mkdirSync(join(dir, 'sub'))
    expect((await smolvm(['machine', 'cp', join(dir, 'sub'), `${name}:/var/tmp/sub`])).exitCode).toBe(1)
    expect((await smolvm(['machine', 'cp', join(dir, 'up.bin'), join(dir, 'x')])).exitCode).toBe(1)
    expect((await smolvm(['machine', 'stop', '--name', name])).exitCode).toBe(0)
    const stopped = await smolvm(['machine', 'cp', join(dir, 'up.bin'), `${name}:/var/tmp/again`])
    expect(stopped.exitCode).toBe(1)
    expect(stopped.stderr).toContain('is not running')
  })
})

describe('smolvm emulator: strict grammar', () => {
  it('refuses what the real tool refuses', async () => {
    const name = await createStarted()
    const positional = await smolvm(['machine', 'create', 'myvm'])
    expect(positional.exitCode).toBe(2)
    expect(positional.stderr).toContain("unexpected argument 'myvm'")
    expect((await smolvm(['machine', 'start', name])).exitCode).toBe(2)
    const dashN = await smolvm(['machine', 'exec', '-n', name, '--', 'true'])
    expect(dashN.exitCode).toBe(2)
    expect(dashN.stderr).toContain("unexpected argument '-n'")
    const both = await smolvm(['machine', 'create', '--name', machineName(), '--from', '/tmp/x.smolmachine', '--image', 'x'])
    expect(both.exitCode).toBe(2)
    expect(both.stderr).toContain('cannot be used with')
    const dir = tempDir()
    const sidecarOut = await smolvm(['pack', 'create', '--image', 'localhost:1/x:y', '-o', join(dir, 'x.smolmachine')])
    expect(sidecarOut.exitCode).toBe(1)
    expect(sidecarOut.stderr).toMatch(/^Error: .*\.smolmachine/)
    expect(existsSync(join(dir, 'x.smolmachine'))).toBe(false)
    expect((await smolvm(['machine', 'frobnicate'])).exitCode).toBe(2)
    expect((await smolvm(['frobnicate'])).exitCode).toBe(2)
    expect((await smolvm(['machine', 'ls', '--bogus'])).exitCode).toBe(2)
    expect((await smolvm(['machine', 'delete', '-f'])).exitCode).toBe(2) // --name is required
    expect((await smolvm(['machine', 'create', '--cpus', 'many'])).exitCode).toBe(2)
    expect((await smolvm(['machine', 'exec', '--name', name, '--timeout', 'soon', '--', 'true'])).exitCode).toBe(2)
    expect((await smolvm(['pack', 'create', '-o', join(dir, 'p')])).exitCode).toBe(2) // --image or --from-vm
    const notEmulated = await smolvm(['machine', 'run', '--image', 'alpine'])
    expect(notEmulated.exitCode).toBe(1)
    expect(notEmulated.stderr).toContain('not emulated')
    // Secret refs of a machine made without --from (resolved at every start and exec) are not emulated.
    const secretRef = await smolvm(['machine', 'create', '--name', machineName(), '--secret-env', 'A=HOME'])
    expect(secretRef.exitCode).toBe(1)
    expect(secretRef.stderr).toContain('not emulated')
    expect((await smolvm(['--version'])).stdout).toMatch(/^smolvm 1\.9\.\d+/)
  })
})

describe('smolvm emulator: pack create and machine create --from', () => {
  let registry = ''
  let ciDir = ''

  beforeAll(async () => {
    ciDir = mkdtempSync(join(tmpdir(), 'smolvm-emu-registry-'))
    const r = await execa('bash', [join(ROOT, 'scripts', 'ci', 'registry.sh'), 'start'], { env: { ...process.env, BOTTLE_TASKS_CI_DIR: ciDir } })
    registry = r.stdout.trim()
    expect(registry).toMatch(/^127\.0\.0\.1:\d+$/)
  })

  afterAll(async () => {
    if (ciDir) {
      await execa('bash', [join(ROOT, 'scripts', 'ci', 'registry.sh'), 'stop'], { env: { ...process.env, BOTTLE_TASKS_CI_DIR: ciDir }, reject: false })
      rmSync(ciDir, { recursive: true, force: true })
    }
  })

  /** Build an image with known content (a marker, node-owned files in /home/node and /tmp), USER node, WORKDIR /home/node. */
  async function buildImage(token: string): Promise<{ tag: string; id: string }> {
    const ctx = tempDir()
    writeFileSync(
      join(ctx, 'Dockerfile'),
      [
        `FROM ${AGENT_IMAGE}`,
        `RUN echo ${token} > /etc/smol-marker && mkdir -p /home/node/work && echo hi > /home/node/work/f && chown -R node:node /home/node && echo t > /tmp/left && chown node:node /tmp/left`,
        'USER node',
        'WORKDIR /home/node',
      ].join('\n') + '\n',
    )
    const tag = `smolvm-emu-test/build:${token}`
    images.add(tag)
    const b = await execa('docker', ['build', '-q', '-t', tag, ctx], { reject: false })
    expect(b.exitCode, b.stderr).toBe(0)
    return { tag, id: (await docker('image', 'inspect', '--format', '{{.Id}}', tag)).stdout.trim() }
  }

  async function push(localTag: string, remote: string): Promise<void> {
    images.add(remote)
    expect((await docker('tag', localTag, remote)).exitCode).toBe(0)
    const p = await docker('push', remote)
    expect(p.exitCode, p.stderr).toBe(0)
  }

  it('fails for an image the registry does not have, even when the engine has it locally', async () => {
    const dir = tempDir()
    const never = await smolvm(['pack', 'create', '--image', `${registry}/smolvm-emu/never:${randomBytes(3).toString('hex')}`, '-o', join(dir, 'pk')])
    expect(never.exitCode).toBe(1)
    expect(never.stderr).toMatch(/^Error: failed to pull image/)
    expect(existsSync(join(dir, 'pk'))).toBe(false)
    expect(existsSync(join(dir, 'pk.smolmachine'))).toBe(false)

    const localOnly = `${registry}/smolvm-emu/local-only:${randomBytes(3).toString('hex')}`
    images.add(localOnly)
    expect((await docker('tag', BASE_IMAGE, localOnly)).exitCode).toBe(0)
    const r = await smolvm(['pack', 'create', '--image', localOnly, '-o', join(dir, 'pk')])
    expect(r.exitCode).toBe(1)
    expect(existsSync(join(dir, 'pk.smolmachine'))).toBe(false)
  })

  it('packs a pushed image into PATH + PATH.smolmachine; --from boots it on a fresh name after the image left the engine', async () => {
    const token = `t${randomBytes(4).toString('hex')}`
    const built = await buildImage(token)
    const remote = `${registry}/smolvm-emu/img:${token}`
    await push(built.tag, remote)

    const dir = tempDir()
    const out = join(dir, 'committed-smolmachine')
    const pack = await smolvm(['pack', 'create', '--image', remote, '-o', out, '--cpus', '2', '--mem', '2048'])
    expect(pack.exitCode, pack.stderr).toBe(0)
    expect(statSync(out).mode & 0o111).not.toBe(0) // executable launcher
    const sidecar = `${out}.smolmachine`
    expect(statSync(sidecar).size).toBeGreaterThan(10 * 1024 * 1024)
    const listing = (await execa('tar', ['-tf', sidecar])).stdout.split('\n')
    expect(listing).toEqual(['image.tar', 'smolmachine.json'])
    const manifest = JSON.parse((await execa('tar', ['-xOf', sidecar, 'smolmachine.json'])).stdout)
    expect(manifest).toMatchObject({ format: 'smolvm-emulator-pack', image: remote, image_id: built.id, cpus: 2, mem: 2048 })

    // the image leaves the engine entirely: only the artifact has it now
    for (const ref of [built.tag, remote]) await docker('image', 'rm', ref)
    expect((await docker('image', 'inspect', built.id)).exitCode).not.toBe(0)

    const name = machineName('from')
    images.add(`smolvm-emulator/pack:${built.id.replace('sha256:', '').slice(0, 12)}`)
    const created = await smolvm(['machine', 'create', '--name', name, '--from', sidecar, '--cpus', '4', '--mem', '8192'])
    expect(created.exitCode, created.stderr).toBe(0)
    expect(await entry(name)).toMatchObject({ state: 'created', cpus: 2, memory_mib: 2048, image: remote }) // defaults do not override
    expect((await smolvm(['machine', 'start', '--name', name])).exitCode).toBe(0)

    const marker = await smolvm(['machine', 'exec', '--name', name, '--', 'cat', '/etc/smol-marker'])
    expect(marker).toMatchObject({ exitCode: 0, stdout: token })
    // exec runs as the image's USER, in its WORKDIR; the pack kept the owners (v1.9)
    const inside = await smolvm(['machine', 'exec', '--name', name, '--', 'sh', '-c', 'id -un; pwd; stat -c %U /home/node/work/f /tmp/left /etc/passwd'])
    expect(inside.stdout.split('\n')).toEqual(['node', '/home/node', 'node', 'node', 'root'])
    const asRoot = await smolvm(['machine', 'exec', '--name', name, '--', 'touch', '/etc/written-by-exec'])
    expect(asRoot.exitCode).not.toBe(0)

    // SMOLVM_EMULATOR_PACK_OWNERS=host: every file shows the host's user (501:20) after the first start
    const remapped = machineName('host')
    expect((await smolvm(['machine', 'create', '--name', remapped, '--from', sidecar], { env: { SMOLVM_EMULATOR_PACK_OWNERS: 'host' } })).exitCode).toBe(0)
    expect((await smolvm(['machine', 'start', '--name', remapped])).exitCode).toBe(0)
    const owners = await smolvm(['machine', 'exec', '--name', remapped, '--', 'stat', '-c', '%u:%g', '/etc/passwd', '/home/node/work/f', '/tmp/left', '/usr/bin/env'])
    expect(owners.stdout.split('\n')).toEqual(['501:20', '501:20', '501:20', '501:20'])
    const refused = await smolvm(['machine', 'create', '--name', machineName(), '--from', sidecar], { env: { SMOLVM_EMULATOR_PACK_OWNERS: 'sometimes' } })
    expect(refused.exitCode).toBe(1)

    // a second pack to the same -o replaces the artifact as a whole
    const other = `${registry}/smolvm-emu/base:${token}`
    await push(BASE_IMAGE, other)
    expect((await smolvm(['pack', 'create', '--image', other, '-o', out])).exitCode).toBe(0)
    const replaced = JSON.parse((await execa('tar', ['-xOf', sidecar, 'smolmachine.json'])).stdout)
    expect(replaced.image).toBe(other)
    expect((await execa('tar', ['-tf', sidecar])).stdout.split('\n')).toEqual(['image.tar', 'smolmachine.json'])
  })

  it('machine create --from accepts --secret-env and, as v1.9, gives the machine nothing from it', async () => {
    const token = `t${randomBytes(4).toString('hex')}`
    const remote = `${registry}/smolvm-emu/secret:${token}`
    await push(BASE_IMAGE, remote)
    const dir = tempDir()
    expect((await smolvm(['pack', 'create', '--image', remote, '-o', join(dir, 'pk')])).exitCode).toBe(0)
    const manifest = JSON.parse((await execa('tar', ['-xOf', join(dir, 'pk.smolmachine'), 'smolmachine.json'])).stdout)
    images.add(`smolvm-emulator/pack:${String(manifest.image_id).replace('sha256:', '').slice(0, 12)}`)

    const name = machineName('secret')
    const env = { HOST_SECRET: `value-${token}` }
    // Not even a malformed spec is refused: run_from_smolmachine never parses them.
    const created = await smolvm(['machine', 'create', '--name', name, '--from', join(dir, 'pk.smolmachine'), '--secret-env', 'HANDED=HOST_SECRET', '--secret-env', 'no-equals'], { env })
    expect(created.exitCode, created.stderr).toBe(0)
    expect((await smolvm(['machine', 'start', '--name', name], { env })).exitCode).toBe(0)
    const seen = await smolvm(['machine', 'exec', '--name', name, '--', 'sh', '-c', 'echo "${HANDED-unset}"'], { env })
    expect(seen).toMatchObject({ exitCode: 0, stdout: 'unset' })
  })

  it('machine create --image pulls from the registry; pack --from-vm needs the machine stopped', async () => {
    const token = `t${randomBytes(4).toString('hex')}`
    const remote = `${registry}/smolvm-emu/base:${token}`
    await push(BASE_IMAGE, remote)
    const missing = await smolvm(['machine', 'create', '--name', machineName(), '--image', `${registry}/smolvm-emu/none:${token}`])
    expect(missing.exitCode).toBe(1)

    const name = machineName()
    expect((await smolvm(['machine', 'create', '--name', name, '--image', remote])).exitCode).toBe(0)
    expect((await entry(name))?.image).toBe(remote)
    expect((await smolvm(['machine', 'start', '--name', name])).exitCode).toBe(0)
    expect((await smolvm(['machine', 'exec', '--name', name, '--', 'sh', '-c', `echo ${token} > /root/state`])).exitCode).toBe(0)

    const dir = tempDir()
    const running = await smolvm(['pack', 'create', '--from-vm', name, '-o', join(dir, 'vm')])
    expect(running.exitCode).toBe(1)
    expect(running.stderr).toContain('is running')
    expect((await smolvm(['machine', 'stop', '--name', name])).exitCode).toBe(0)
    expect((await smolvm(['pack', 'create', '--from-vm', name, '-o', join(dir, 'vm')])).exitCode).toBe(0)

    const copy = machineName('copy')
    const manifest = JSON.parse((await execa('tar', ['-xOf', join(dir, 'vm.smolmachine'), 'smolmachine.json'])).stdout)
    images.add(`smolvm-emulator/pack:${String(manifest.image_id).replace('sha256:', '').slice(0, 12)}`)
    expect((await smolvm(['machine', 'create', '--name', copy, '--from', join(dir, 'vm.smolmachine')])).exitCode).toBe(0)
    expect((await smolvm(['machine', 'start', '--name', copy])).exitCode).toBe(0)
    expect((await smolvm(['machine', 'exec', '--name', copy, '--', 'cat', '/root/state'])).stdout).toBe(token)
  })
})

describe('smolvm emulator: who exec runs as, and what a machine is created with', () => {
  /** A local image with a USER, loaded into a machine as a `docker save` archive (`--image ./x.tar`). */
  async function archiveOf(dockerfile: string): Promise<string> {
    const tag = `smolvm-emu-test/user:${randomBytes(4).toString('hex')}`
    images.add(tag)
    const built = await execa('docker', ['build', '-q', '-t', tag, '-'], { input: dockerfile, env: { DOCKER_BUILDKIT: '0' }, reject: false })
    expect(built.exitCode, built.stderr).toBe(0)
    const archive = join(tempDir(), 'image.tar')
    await execa('docker', ['save', '-o', archive, tag])
    return archive
  }

  it("runs exec as the image's USER (root without one, root in a bare machine) and the workload as root", async () => {
    const withUser = machineName('user')
    const archive = await archiveOf(`FROM ${AGENT_IMAGE}\nUSER node\n`)
    const workload = ['sh', '-c', 'id -u > /var/tmp/workload-uid; exec sleep infinity']
    expect((await smolvm(['machine', 'create', '--name', withUser, '--image', archive, '--', ...workload])).exitCode).toBe(0)
    expect((await smolvm(['machine', 'start', '--name', withUser])).exitCode).toBe(0)
    expect((await smolvm(['machine', 'exec', '--name', withUser, '--', 'id', '-un'])).stdout).toBe('node')
    const deadline = Date.now() + 30_000
    let uid = ''
    while (uid === '' && Date.now() < deadline) uid = (await smolvm(['machine', 'exec', '--name', withUser, '--', 'sh', '-c', 'cat /var/tmp/workload-uid 2>/dev/null || true'])).stdout
    expect(uid).toBe('0')

    const plain = machineName('plain')
    expect((await smolvm(['machine', 'create', '--name', plain, '--image', await archiveOf(`FROM ${BASE_IMAGE}\n`)])).exitCode).toBe(0)
    expect((await smolvm(['machine', 'start', '--name', plain])).exitCode).toBe(0)
    expect((await smolvm(['machine', 'exec', '--name', plain, '--', 'id', '-un'])).stdout).toBe('root')
    const bare = await createStarted()
    expect((await smolvm(['machine', 'exec', '--name', bare, '--', 'id', '-un'])).stdout).toBe('root')
  })

  it('creates a machine with its volumes, ports and network, and without a network unless --net', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'from-host'), 'shared')
    const name = await createStarted(['-v', `${dir}:/mnt/host:ro`, '-p', '18731:80', '--net', '--cpus', '2', '--mem', '1024'])
    expect(await entry(name)).toMatchObject({ cpus: 2, memory_mib: 1024, mounts: 1, ports: 1, network: true })
    const inside = await smolvm(['machine', 'exec', '--name', name, '--', 'sh', '-c', 'cat /mnt/host/from-host; echo; touch /mnt/host/x 2>/dev/null && echo writable || echo read-only'])
    expect(inside.stdout).toBe('shared\nread-only')
    const verbose = (await smolvm(['machine', 'ls', '-v'])).stdout
    expect(verbose).toContain(`Mount: ${dir} -> /mnt/host (ro)`)
    expect(verbose).toContain('Port: 18731 -> 80')

    const offline = await createStarted()
    expect(await entry(offline)).toMatchObject({ network: false, mounts: 0, ports: 0 })
    expect((await docker('inspect', '--format', '{{.HostConfig.NetworkMode}}', `smolvm-${offline}`)).stdout).toBe('none')
    const missing = await smolvm(['machine', 'create', '--name', machineName(), '-v', `${dir}/gone:/x`])
    expect(missing.exitCode).toBe(1)
    expect(missing.stderr).toContain('mount source not found')
  })

  it('fails a pack whose registry is on a loopback the helper VM cannot reach (SMOLVM_EMULATOR_PACK_LOOPBACK=unreachable)', async () => {
    const dir = tempDir()
    const result = await smolvm(['pack', 'create', '--image', '127.0.0.1:5999/smolvm-emu/x:1', '-o', join(dir, 'pk')], { env: { SMOLVM_EMULATOR_PACK_LOOPBACK: 'unreachable' } })
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toBe(`Error: failed to pull image '127.0.0.1:5999/smolvm-emu/x:1': Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused`)
    expect(existsSync(join(dir, 'pk.smolmachine'))).toBe(false)
  })
})
