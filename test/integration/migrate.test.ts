// Moving a bottle from host A (the default engine) to host B (a second dockerd with its own data
// root), by bundle file and through a real registry on loopback.
import { existsSync } from 'node:fs'
import { mkdtempSync, rmSync, readFileSync, statSync, truncateSync, openSync, readSync, writeSync, closeSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa, execaSync } from 'execa'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest'
import { Sandbox, docker, expectOneLineError } from '../helpers.ts'

const engineB = inject('engineB')
// The bottles work in /home/node, as agents do: the agent-like image has the user node.
const agentImage = inject('agentImage')
const registry = inject('registry')
const onB = { DOCKER_HOST: engineB }
const dockerB = async (...args: string[]) => (await execa('docker', args, { env: onB })).stdout.trim()
const dockerBOk = async (...args: string[]) => (await execa('docker', args, { env: onB, reject: false })).exitCode === 0

let hostA: Sandbox
let hostB: Sandbox
let files: string
beforeEach(() => {
  hostA = new Sandbox()
  hostB = new Sandbox({ DOCKER_HOST: engineB })
  files = mkdtempSync(join(tmpdir(), 'bottle-tasks-bundles-'))
})
afterEach(async () => {
  await hostA.dispose()
  await hostB.dispose()
  rmSync(files, { recursive: true, force: true })
})

/** A committed bottle on A with a file written in it. */
async function committedBottle(image = agentImage): Promise<string> {
  const slug = await hostA.start(image, 'mv')
  hostB.track(slug)
  await docker('exec', `bot-bottle-${slug}`, 'sh', '-c', `echo "work of ${slug}" > /home/node/work.txt`)
  const committed = await hostA.task('commit', [slug])
  expect(committed.exitCode, committed.stderr).toBe(0)
  return slug
}

async function resumeOnBAndRead(slug: string): Promise<string> {
  const resumed = await hostB.task('resume', [slug])
  expect(resumed.exitCode, resumed.stderr).toBe(0)
  return dockerB('exec', `bot-bottle-${slug}`, 'cat', '/home/node/work.txt')
}

const imagesOnB = async () => (await dockerB('image', 'ls', '-a', '-q', '--no-trunc')).split('\n').filter(Boolean).sort()

describe('by bundle file', () => {
  it('checks the snapshot as it loads it: a sha256 other than the one in the manifest is refused and what it loaded removed, never an image that was there', async () => {
    const slug = await committedBottle()
    const bundle = join(files, 'good.bottle')
    expect((await hostA.task('export', [slug, '--output', bundle, '--compress', 'none'])).exitCode).toBe(0)
    // The payload intact, the manifest naming another digest: the engine loads it, the check must not pass it.
    const { stdout: manifestText } = await execa('tar', ['xOf', bundle, 'manifest.json'])
    const recorded = (JSON.parse(manifestText) as { payload: { sha256: string } }).payload.sha256
    const forged = join(files, 'forged.bottle')
    const bytes = readFileSync(bundle)
    const at = bytes.indexOf(recorded)
    expect(at).toBeGreaterThan(0)
    bytes.write(`${recorded[0] === '0' ? '1' : '0'}${recorded.slice(1)}`, at)
    writeFileSync(forged, bytes)
    const before = await imagesOnB()

    const refused = await hostB.task('import', [forged])
    expect(refused.exitCode).toBe(2)
    expect(expectOneLineError(refused)).toMatch(/is corrupt: the sha256 of snapshot\.tar does not match its manifest; what was loaded is removed again/)
    expect(await imagesOnB()).toEqual(before)
    expect(existsSync(join(hostB.home, 'state', slug))).toBe(false)

    // The same snapshot, here with no name but a container made from it: the refused import cannot take it.
    const loaded = /sha256:[0-9a-f]{64}/.exec((await execa('sh', ['-c', `tar xOf ${bundle} snapshot.tar | docker load`], { env: onB })).stdout)![0]
    await dockerB('create', '--name', `holder-${slug}`, loaded)
    try {
      expect((await hostB.task('import', [forged])).exitCode).toBe(2)
      expect(await imagesOnB()).toContain(loaded)
    } finally {
      await dockerB('rm', `holder-${slug}`)
    }

    // The same snapshot, already here as a bottle's: the refused import leaves it.
    expect((await hostB.task('import', [bundle])).exitCode).toBe(0)
    const withBottle = await imagesOnB()
    const again = await hostB.task('import', [forged, '--as', hostB.slug('again')])
    expect(again.exitCode).toBe(2)
    expect(await imagesOnB()).toEqual(withBottle)
    expect(await resumeOnBAndRead(slug)).toBe(`work of ${slug}`)
  })

  it('exports one compressed file, imports it on B, and resumes there with the work intact', async () => {
    const slug = await committedBottle()
    const bundle = join(files, `${slug}.bottle`)
    const exported = await hostA.task('export', [slug, '--output', bundle, '--json'])
    expect(exported.exitCode, exported.stderr).toBe(0)
    expect(JSON.parse(exported.stdout)).toMatchObject({ slug, output: bundle, compression: 'zstd' })
    expect(readdirSync(files)).toEqual([`${slug}.bottle`])
    const { stdout: members } = await execa('tar', ['tf', bundle])
    expect(members.split('\n')).toEqual(['snapshot.tar.zst', 'manifest.json'])

    const imported = await hostB.task('import', [bundle])
    expect(imported.exitCode, imported.stderr).toBe(0)
    expect(imported.stdout).toContain(slug)
    const state = join(hostB.home, 'state', slug)
    expect(readFileSync(join(state, 'committed-image'), 'utf8').trim()).toBe(`bot-bottle-committed-${slug}:latest`)
    expect(existsSync(join(state, 'preserve'))).toBe(true)
    expect(JSON.parse(readFileSync(join(state, 'metadata.json'), 'utf8'))).toMatchObject({ identity: slug, agent_name: 'mv', image: agentImage })
    expect(await resumeOnBAndRead(slug)).toBe(`work of ${slug}`)
  })

  it('writes gzip and uncompressed bundles too', async () => {
    const slug = await committedBottle()
    // Each under a slug of its own, each resumed: neither can pass for the other.
    for (const compression of ['gzip', 'none']) {
      const bundle = join(files, `${slug}.${compression}.bottle`)
      const exported = await hostA.task('export', [slug, '--output', bundle, '--compress', compression])
      expect(exported.exitCode, exported.stderr).toBe(0)
      expect(execaSync('tar', ['-tf', bundle]).stdout.split('\n')[0]).toBe(compression === 'gzip' ? 'snapshot.tar.gz' : 'snapshot.tar')
      const copy = hostB.track(`${slug}-${compression === 'gzip' ? 'gz' : 'raw'}`)
      const imported = await hostB.task('import', [bundle, '--as', copy])
      expect(imported.exitCode, imported.stderr).toBe(0)
      expect(await resumeOnBAndRead(copy)).toBe(`work of ${slug}`)
    }
  })

  it('refuses a tampered or truncated bundle, leaving the engine and the state as they were', async () => {
    const slug = await committedBottle()
    const bundle = join(files, 'good.bottle')
    expect((await hostA.task('export', [slug, '--output', bundle, '--compress', 'none'])).exitCode).toBe(0)
    const before = await imagesOnB()

    const flipped = join(files, 'flipped.bottle')
    await execa('cp', [bundle, flipped])
    const fd = openSync(flipped, 'r+')
    const middle = Math.floor(statSync(flipped).size / 2)
    const byte = Buffer.alloc(1)
    readSync(fd, byte, 0, 1, middle)
    writeSync(fd, Buffer.from([byte[0]! ^ 0xff]), 0, 1, middle)
    closeSync(fd)
    const tampered = await hostB.task('import', [flipped])
    expect(tampered.exitCode).toBe(2)
    expect(expectOneLineError(tampered)).toContain('corrupt')

    const truncated = join(files, 'truncated.bottle')
    await execa('cp', [bundle, truncated])
    truncateSync(truncated, Math.floor(statSync(truncated).size * 0.6))
    const cut = await hostB.task('import', [truncated])
    expect(cut.exitCode).toBe(2)
    expect(expectOneLineError(cut)).toContain('truncated')

    expect(await imagesOnB()).toEqual(before)
    expect(existsSync(join(hostB.home, 'state', slug))).toBe(false)
  })

  it('imports under a new slug with --as, and refuses an existing slug without --force', async () => {
    const slug = await committedBottle()
    const bundle = join(files, 'b.bottle')
    expect((await hostA.task('export', [slug, '--output', bundle])).exitCode).toBe(0)
    expect((await hostB.task('import', [bundle])).exitCode).toBe(0)
    const again = await hostB.task('import', [bundle])
    expect(again.exitCode).toBe(2)
    expect(expectOneLineError(again)).toContain(`bottle "${slug}" already exists`)

    const copy = hostB.slug('copy')
    const renamed = await hostB.task('import', [bundle, '--as', copy])
    expect(renamed.exitCode, renamed.stderr).toBe(0)
    expect(JSON.parse(readFileSync(join(hostB.home, 'state', copy, 'metadata.json'), 'utf8')).identity).toBe(copy)
    expect(await dockerBOk('image', 'inspect', `bot-bottle-committed-${copy}:latest`)).toBe(true)
    expect(await resumeOnBAndRead(copy)).toBe(`work of ${slug}`)
    expect((await hostB.task('import', [bundle, '--force'])).exitCode).toBe(0)
  })

  it('import --force refuses a bottle that has a container here, and replaces one without, its old snapshots too', async () => {
    const slug = await committedBottle()
    const bundle = join(files, 'f.bottle')
    expect((await hostA.task('export', [slug, '--output', bundle])).exitCode).toBe(0)
    expect((await hostB.task('import', [bundle])).exitCode).toBe(0)
    expect(await resumeOnBAndRead(slug)).toBe(`work of ${slug}`)
    await dockerB('exec', `bot-bottle-${slug}`, 'sh', '-c', 'echo "work on B" > /home/node/work.txt')
    expect((await hostB.task('commit', [slug])).exitCode).toBe(0)
    const historyOnB = () => JSON.parse(readFileSync(join(hostB.home, 'state', slug, 'snapshots.json'), 'utf8')).snapshots

    // Resume would run (or restart) that container, not what was imported: refused, nothing touched.
    const before = await imagesOnB()
    const refused = await hostB.task('import', [bundle, '--force'])
    expect(refused.exitCode).toBe(2)
    expect(expectOneLineError(refused)).toContain(`bottle "${slug}" is running on this host: remove it first (npx tsx tasks/cleanup.ts ${slug}), then import --force`)
    expect(await imagesOnB()).toEqual(before)
    expect(historyOnB()).toHaveLength(2)

    expect((await hostB.task('cleanup', [slug])).exitCode).toBe(0)
    const replaced = await hostB.task('import', [bundle, '--force'])
    expect(replaced.exitCode, replaced.stderr).toBe(0)
    expect(historyOnB()).toHaveLength(1)
    // Snapshot 2 of the replaced bottle (its commit on B) is not left under a name no history knows.
    expect(await dockerBOk('image', 'inspect', `bot-bottle-committed-${slug}:2`)).toBe(false)
    expect(await resumeOnBAndRead(slug)).toBe(`work of ${slug}`)
  })

  it('says to commit first when the bottle has no snapshot', async () => {
    const slug = await hostA.start()
    const result = await hostA.task('export', [slug, '--output', join(files, 'x.bottle')])
    expect(result.exitCode).toBe(1)
    expect(expectOneLineError(result)).toContain(`commit it first (npx tsx tasks/commit.ts ${slug})`)
    expect(readdirSync(files)).toEqual([])
  })
})

describe('incremental export with --base', () => {
  const base = `bottle-tasks-test-base:${process.pid}`
  beforeAll(async () => {
    // A base image B does not have yet: the bottle's image plus a layer of its own.
    await execa('docker', ['build', '-q', '-t', base, '-'], { input: `FROM ${agentImage}\nRUN head -c 3000000 /dev/urandom > /opt/base.bin\n` })
  })
  afterAll(async () => {
    await execa('docker', ['image', 'rm', '-f', base], { reject: false })
    await execa('docker', ['image', 'rm', '-f', base], { env: onB, reject: false })
  })

  it('leaves out the base layers, refuses on a host without the base, and works once the base is there', async () => {
    const slug = await committedBottle(base)
    const full = join(files, 'full.bottle')
    const incremental = join(files, 'incremental.bottle')
    expect((await hostA.task('export', [slug, '--output', full, '--compress', 'none'])).exitCode).toBe(0)
    const exported = await hostA.task('export', [slug, '--output', incremental, '--compress', 'none', '--base', base])
    expect(exported.exitCode, exported.stderr).toBe(0)
    expect(statSync(incremental).size * 5).toBeLessThan(statSync(full).size)

    const before = await imagesOnB()
    const refused = await hostB.task('import', [incremental])
    expect(refused.exitCode).toBe(2)
    expect(expectOneLineError(refused)).toContain(`leaves out the layers of ${base}`)
    expect(await imagesOnB()).toEqual(before)
    expect(existsSync(join(hostB.home, 'state', slug))).toBe(false)

    await execa('sh', ['-c', `docker save ${base} | DOCKER_HOST=${engineB} docker load -q`])
    const imported = await hostB.task('import', [incremental])
    expect(imported.exitCode, imported.stderr).toBe(0)
    expect(await resumeOnBAndRead(slug)).toBe(`work of ${slug}`)
    expect(await dockerB('exec', `bot-bottle-${slug}`, 'stat', '-c', '%s', '/opt/base.bin')).toBe('3000000')
  })
})

describe('through an OCI registry', () => {
  it('pushes with --to and imports from the reference alone on B', async () => {
    const slug = await committedBottle()
    const reference = `${registry}/bottles/${slug}:v1`
    const pushed = await hostA.task('export', [slug, '--to', reference, '--json'])
    expect(pushed.exitCode, pushed.stderr).toBe(0)
    expect(JSON.parse(pushed.stdout).digest).toMatch(/^sha256:/)
    expect(await docker('image', 'ls', '-q', reference)).toBe('')

    const imported = await hostB.task('import', [reference])
    expect(imported.exitCode, imported.stderr).toBe(0)
    expect(JSON.parse(readFileSync(join(hostB.home, 'state', slug, 'metadata.json'), 'utf8'))).toMatchObject({ identity: slug, agent_name: 'mv' })
    expect(await dockerB('image', 'ls', '-q', reference)).toBe('')
    expect(await resumeOnBAndRead(slug)).toBe(`work of ${slug}`)
  })

  it('refuses a bad reference with exit 2', async () => {
    const slug = await committedBottle()
    const result = await hostA.task('export', [slug, '--to', 'not a reference'])
    expect(result.exitCode).toBe(2)
    expect(expectOneLineError(result)).toContain('invalid registry reference')
  })
})
