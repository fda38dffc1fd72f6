// Moving a bottle between engine generations, by bundle file, both ways: 20.10 → 29 (a legacy
// `docker save` loaded into a containerd image store) and 29 → 20.10 (an OCI-layout save, zstd
// compressed, loaded by an engine that reads neither zstd nor, for --base, OCI blobs). Run in the
// lane of engine 29 only (vitest.config.ts), between engine 29 and its lane's 20.10 engine (C), so
// that no other lane's engine is needed.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeAll, afterAll, beforeEach, describe, expect, inject, it } from 'vitest'
import { Sandbox, expectOneLineError } from '../helpers.ts'

const agentImage = inject('agentImage')
const engine29 = { DOCKER_HOST: inject('engineCurrent') }
const engine2010 = { DOCKER_HOST: inject('engineB') }
const dockerOn = async (env: Record<string, string>, ...args: string[]) => (await execa('docker', args, { env })).stdout.trim()
const majorVersion = (version: string) => Number(version.split('.')[0])

const DIRECTIONS = [
  { name: '29 → 20.10', fromCurrent: true, from: engine29, to: engine2010 },
  { name: '20.10 → 29', fromCurrent: false, from: engine2010, to: engine29 },
] as const

describe.each(DIRECTIONS)('a move to the other engine generation ($name)', ({ fromCurrent, from, to }) => {
  let here: Sandbox
  let other: Sandbox
  let files: string
  beforeEach(() => {
    here = new Sandbox(from)
    other = new Sandbox(to)
    files = mkdtempSync(join(tmpdir(), 'bottle-tasks-engines-'))
  })
  afterEach(async () => {
    await here.dispose()
    await other.dispose()
    rmSync(files, { recursive: true, force: true })
  })

  /** A committed bottle here, from `image`, with a file written in the agent's home. */
  async function committedBottle(image: string): Promise<string> {
    const slug = await here.start(image, 'gen')
    other.track(slug)
    await dockerOn(from, 'exec', `bot-bottle-${slug}`, 'sh', '-c', `echo "work of ${slug}" > /home/node/work.txt`)
    const committed = await here.task('commit', [slug])
    expect(committed.exitCode, committed.stderr).toBe(0)
    return slug
  }

  async function moveAndRead(slug: string, exportFlags: string[]): Promise<string> {
    const bundle = join(files, `${slug}.bottle`)
    const exported = await here.task('export', [slug, '--output', bundle, ...exportFlags])
    expect(exported.exitCode, exported.stderr).toBe(0)
    const imported = await other.task('import', [bundle])
    expect(imported.exitCode, imported.stderr).toBe(0)
    const resumed = await other.task('resume', [slug])
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    return dockerOn(to, 'exec', `bot-bottle-${slug}`, 'cat', '/home/node/work.txt')
  }

  it('runs between the engines it means', async () => {
    const [hereVersion, thereVersion] = [await dockerOn(from, 'version', '--format', '{{.Server.Version}}'), await dockerOn(to, 'version', '--format', '{{.Server.Version}}')]
    expect([majorVersion(hereVersion), majorVersion(thereVersion)]).toEqual(fromCurrent ? [29, 20] : [20, 29])
  })

  it('carries a whole snapshot in a zstd bundle', async () => {
    const slug = await committedBottle(agentImage)
    expect(await moveAndRead(slug, ['--compress', 'zstd'])).toBe(`work of ${slug}`)
  })

  describe('with --base', () => {
    // A base image the other engine does not have until the test gives it one: the agent image
    // plus a layer of its own, so that leaving it out is visible in the bundle's size.
    const base = `bottle-tasks-test-generation-base:${process.pid}`
    beforeAll(async () => {
      await execa('docker', ['build', '-q', '-t', base, '-'], { input: `FROM ${agentImage}\nRUN head -c 2000000 /dev/urandom > /opt/base.bin\n`, env: from })
      await execa('sh', ['-c', 'docker save "$1" | DOCKER_HOST="$2" docker load -q', 'sh', base, to.DOCKER_HOST], { env: from })
    })
    afterAll(async () => {
      await execa('docker', ['image', 'rm', '-f', base], { env: from, reject: false })
      await execa('docker', ['image', 'rm', '-f', base], { env: to, reject: false })
    })

    it(fromCurrent ? 'carries only what the bottle added to the base, and the base layers come from the other engine' : 'is refused by the newer engine, which loads a legacy archive only whole, before anything is loaded', async () => {
      const slug = await committedBottle(base)
      const bundle = join(files, 'incremental.bottle')
      const exported = await here.task('export', [slug, '--output', bundle, '--compress', 'none', '--base', base, '--json'])
      expect(exported.exitCode, exported.stderr).toBe(0)
      // The 2 MB of random base data are not in the bundle.
      expect(Number((await execa('stat', ['-c', '%s', bundle])).stdout)).toBeLessThan(1_000_000)
      if (!fromCurrent) {
        const refused = await other.task('import', [bundle])
        expect(refused.exitCode).toBe(2)
        expect(expectOneLineError(refused)).toMatch(/legacy archive.*export it again without --base/)
        // Refused before loading: neither the snapshot nor the bottle's state is there.
        expect(await dockerOn(to, 'image', 'ls', '-q', `bot-bottle-committed-${slug}`)).toBe('')
        expect(existsSync(join(other.home, 'state', slug))).toBe(false)
        return
      }
      const imported = await other.task('import', [bundle])
      expect(imported.exitCode, imported.stderr).toBe(0)
      const resumed = await other.task('resume', [slug])
      expect(resumed.exitCode, resumed.stderr).toBe(0)
      expect(await dockerOn(to, 'exec', `bot-bottle-${slug}`, 'sh', '-c', 'cat /home/node/work.txt; stat -c %s /opt/base.bin')).toBe(`work of ${slug}\n2000000`)
    })
  })
})
