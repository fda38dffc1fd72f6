// What the engine adds to a bottle's confinement (issue 21): recorded at commit with how the bottle
// ran, and checked on every way back. A bottle that ran on an engine that remaps users (engine D,
// --userns-remap=default) is refused on one that does not, with nothing made, unless relaxed by
// name; the engines here (seccomp "default" on 20.10, "builtin" on 29, cgroup v1) round-trip
// without a word; a value the engine chose (a bind of / gets rslave) is not replayed as asked.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest'
import { Sandbox, engineObjects, expectOneLineError } from '../helpers.ts'
import { laneOfThisWorker } from '../lanes.ts'

const agentImage = inject('agentImage')
const here = {}
const otherHost = { DOCKER_HOST: inject('engineB') }
const userns = { DOCKER_HOST: inject('engineUserns') }
const dockerOn = async (env: Record<string, string>, ...args: string[]) => (await execa('docker', args, { env: { ...process.env, ...env } })).stdout.trim()

let hostA: Sandbox
let hostB: Sandbox
let files: string
beforeEach(() => {
  hostA = new Sandbox()
  hostB = new Sandbox(otherHost)
  files = mkdtempSync(join(tmpdir(), 'bottle-tasks-platform-'))
})
afterEach(async () => {
  await hostA.dispose()
  await hostB.dispose()
  rmSync(files, { recursive: true, force: true })
})

const runConfig = (box: Sandbox, slug: string) => JSON.parse(readFileSync(join(box.home, 'state', slug, 'run-config.json'), 'utf8'))

/** A bottle run by hand on `env`'s engine with `flags`, with a file written in the agent's home, committed. */
async function committed(box: Sandbox, env: Record<string, string>, flags: string[] = []) {
  const started = await box.task('start', ['--agent', 'pf', '--image', agentImage])
  expect(started.exitCode, started.stderr).toBe(0)
  const made = started.stdout.trim()
  box.track(made)
  if (flags.length > 0) {
    // Run again the way another tool may have run it, with its labels.
    const labels = JSON.parse(await dockerOn(env, 'inspect', '--format', '{{json .Config.Labels}}', `bot-bottle-${made}`)) as Record<string, string>
    await dockerOn(env, 'rm', '-f', `bot-bottle-${made}`)
    await dockerOn(env, 'run', '--detach', '--interactive', '--tty', '--name', `bot-bottle-${made}`, ...Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`]), ...flags, agentImage)
  }
  await dockerOn(env, 'exec', `bot-bottle-${made}`, 'sh', '-c', `echo "work of ${made}" > /home/node/work.txt`)
  const commit = await box.task('commit', [made])
  expect(commit.exitCode, commit.stderr).toBe(0)
  return made
}

describe('what the engine adds to the sandbox', () => {
  it('is recorded at commit, and round-trips on this engine and to another host without a refusal', async () => {
    const slug = await committed(hostA, here)
    const security = JSON.parse(await dockerOn(here, 'info', '--format', '{{json .SecurityOptions}}')) as string[]
    const platform = runConfig(hostA, slug).run.platform
    expect(platform).toMatchObject({ vm: false, rootless: false, userns: false, cgroupVersion: await dockerOn(here, 'info', '--format', '{{.CgroupVersion}}') })
    // 20.10 calls its built-in seccomp profile "default", 29 "builtin".
    expect(`name=seccomp,profile=${platform.seccomp}`).toBe(security.find((option) => option.startsWith('name=seccomp')))
    expect((await hostA.task('list', [slug])).stdout).toMatch(/platform: Docker \S+ on .*seccomp (default|builtin)/)

    expect((await hostA.task('cleanup', [slug])).exitCode).toBe(0)
    const resumed = await hostA.task('resume', [slug])
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect(resumed.stdout).not.toContain('Relaxed')
    expect(resumed.stderr).not.toContain('not compared')

    // To the other host of this lane: 20.10 → 20.10, or 29 → 20.10 ("builtin" is "default").
    const bundle = join(files, 'pf.bottle')
    expect((await hostA.task('export', [slug, '-o', bundle])).exitCode).toBe(0)
    hostB.track(slug)
    expect((await hostB.task('import', [bundle])).exitCode).toBe(0)
    const there = await hostB.task('resume', [slug])
    expect(there.exitCode, there.stderr).toBe(0)
    expect(there.stdout).not.toContain('Relaxed')
    expect(await dockerOn(otherHost, 'exec', `bot-bottle-${slug}`, 'cat', '/home/node/work.txt')).toBe(`work of ${slug}`)
  })

  it('says once that an older record (version 1) has nothing to compare, and boots', async () => {
    const slug = await committed(hostA, here)
    const file = join(hostA.home, 'state', slug, 'run-config.json')
    const config = runConfig(hostA, slug)
    delete config.run.platform
    writeFileSync(file, JSON.stringify({ ...config, version: 1 }))
    expect((await hostA.task('cleanup', [slug])).exitCode).toBe(0)
    const resumed = await hostA.task('resume', [slug])
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect(resumed.stderr.match(/the record does not say what the platform it ran on added .*: not compared with Docker/g)).toHaveLength(1)
  })

  it('does not replay the propagation the engine chose: a bottle with / bound in comes back on the same host', async () => {
    const slug = await committed(hostA, here, ['-v', '/:/hostroot:ro'])
    const mount = runConfig(hostA, slug).run.mounts.find((entry: { target: string }) => entry.target === '/hostroot')
    // rslave is what the engine made of it; nothing was asked.
    expect(mount).toEqual({ type: 'bind', source: '/', target: '/hostroot', readOnly: true })
    expect((await hostA.task('cleanup', [slug])).exitCode).toBe(0)
    const resumed = await hostA.task('resume', [slug])
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect(await dockerOn(here, 'inspect', '--format', '{{range .Mounts}}{{.Destination}} {{.RW}}{{end}}', `bot-bottle-${slug}`)).toBe('/hostroot false')
  })

  // Engine D is the default engine's lane's: the move D → A runs there only.
  if (laneOfThisWorker() === 'default') {
    it('refuses a bottle that ran with users remapped on an engine that does not remap them, making nothing, and boots it when relaxed', async () => {
      const onD = new Sandbox(userns)
      try {
        const slug = await committed(onD, userns)
        hostA.track(slug)
        expect(runConfig(onD, slug).run.platform).toMatchObject({ userns: true })
        // Root in it was an unprivileged uid of the host.
        expect(await dockerOn(userns, 'exec', `bot-bottle-${slug}`, 'cat', '/proc/self/uid_map')).toMatch(/^0\s+100000\s+65536$/)
        const bundle = join(files, 'userns.bottle')
        expect((await onD.task('export', [slug, '-o', bundle])).exitCode).toBe(0)
        expect((await hostA.task('import', [bundle])).exitCode).toBe(0)

        const before = await engineObjects(here)
        const refused = await hostA.task('resume', [slug])
        expect(refused.exitCode).toBe(1)
        expect(expectOneLineError(refused)).toMatch(/it ran with user namespaces remapped .*--relax userns/)
        expect(await engineObjects(here)).toEqual(before)

        const relaxed = await hostA.task('resume', [slug, '--relax', 'userns', '--json'])
        expect(relaxed.exitCode, relaxed.stderr).toBe(0)
        expect(JSON.parse(relaxed.stdout).relaxed).toEqual([expect.stringMatching(/^userns: it ran with user namespaces remapped/)])
        expect(await dockerOn(here, 'exec', `bot-bottle-${slug}`, 'cat', '/home/node/work.txt')).toBe(`work of ${slug}`)
      } finally {
        await onD.dispose()
      }
    })
  }
})
