// The Docker bottle lifecycle, run as a user runs it, on the real engine.
import { readFile, writeFile, mkdir } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BASE_IMAGE, Sandbox, docker, dockerOk } from '../helpers.ts'

let sandbox: Sandbox
beforeEach(() => {
  sandbox = new Sandbox()
})
afterEach(async () => {
  await sandbox.dispose()
})

const stateFile = (slug: string, file: string) => join(sandbox.home, 'state', slug, file)
const inBottle = (slug: string, script: string) => docker('exec', `bot-bottle-${slug}`, 'sh', '-c', script)

describe('start and list', () => {
  it('starts a running bottle, writes its state, and lists it', async () => {
    const slug = await sandbox.start()
    expect(slug).toMatch(/^t-[a-z0-9]{5}$/)
    expect(await docker('inspect', '--format', '{{.State.Running}}', `bot-bottle-${slug}`)).toBe('true')
    const metadata = JSON.parse(await readFile(stateFile(slug, 'metadata.json'), 'utf8'))
    expect(metadata).toMatchObject({ identity: slug, agent_name: 't', backend: 'docker', image: BASE_IMAGE, copy_cwd: false })
    expect(Date.parse(metadata.started_at)).not.toBeNaN()

    const listed = await sandbox.task('list', ['--json'])
    expect(listed.exitCode).toBe(0)
    expect(JSON.parse(listed.stdout)).toContainEqual(expect.objectContaining({ slug, agent: 't', status: 'running', snapshot: null }))
    const table = await sandbox.task('list')
    expect(table.stdout).toMatch(new RegExp(`${slug}\\s+t\\s+docker\\s+running`))
  })
})

describe('commit, cleanup, resume', () => {
  it('commits without stopping the bottle, and a file written before the commit survives cleanup → resume', async () => {
    const slug = await sandbox.start()
    const containerId = await docker('inspect', '--format', '{{.Id}}', `bot-bottle-${slug}`)
    // Written and committed right away: commit must sync so the file is in the snapshot.
    await inBottle(slug, 'echo agent-work > /root/work.txt && mkdir -p /tmp/x')

    const committed = await sandbox.task('commit', [slug])
    expect(committed.exitCode, committed.stderr).toBe(0)
    expect(committed.stdout).toContain(`npx tsx tasks/resume.ts ${slug}`)
    expect(committed.stdout).toContain(`npx tsx tasks/export.ts ${slug} --output`)
    expect(await docker('inspect', '--format', '{{.State.Running}} {{.Id}}', `bot-bottle-${slug}`)).toBe(`true ${containerId}`)
    expect((await readFile(stateFile(slug, 'committed-image'), 'utf8')).trim()).toBe(`bot-bottle-committed-${slug}:latest`)
    expect(existsSync(stateFile(slug, 'preserve'))).toBe(true)
    const labels = JSON.parse(await docker('image', 'inspect', '--format', '{{json .Config.Labels}}', `bot-bottle-committed-${slug}:latest`))
    expect(labels['bot-bottle.slug']).toBe(slug)
    expect(JSON.parse(labels['bot-bottle.metadata'])).toMatchObject({ identity: slug, agent_name: 't' })

    const cleaned = await sandbox.task('cleanup', [slug])
    expect(cleaned.exitCode, cleaned.stderr).toBe(0)
    expect(await dockerOk('inspect', `bot-bottle-${slug}`)).toBe(false)
    expect(existsSync(stateFile(slug, 'metadata.json'))).toBe(true)

    // An old start time, so that the one resume writes is seen to be new without a clock race.
    const metadataBefore = JSON.parse(await readFile(stateFile(slug, 'metadata.json'), 'utf8'))
    await writeFile(stateFile(slug, 'metadata.json'), JSON.stringify({ ...metadataBefore, started_at: '2001-09-09T01:46:40.000Z' }))
    const resumed = await sandbox.task('resume', [slug, '--json'])
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect(JSON.parse(resumed.stdout)).toMatchObject({ slug, how: 'snapshot', source: `bot-bottle-committed-${slug}:latest` })
    expect(await inBottle(slug, 'cat /root/work.txt')).toBe('agent-work')
    expect(await inBottle(slug, 'stat -c %a /tmp /var/tmp')).toBe('1777\n1777')
    const after = JSON.parse(await readFile(stateFile(slug, 'metadata.json'), 'utf8')).started_at
    expect(after > metadataBefore.started_at).toBe(true)
  })

  it('reports an already running bottle instead of restarting it', async () => {
    const slug = await sandbox.start()
    const containerId = await docker('inspect', '--format', '{{.Id}}', `bot-bottle-${slug}`)
    const resumed = await sandbox.task('resume', [slug])
    expect(resumed.exitCode).toBe(0)
    expect(resumed.stdout).toContain('already running')
    expect(await docker('inspect', '--format', '{{.Id}}', `bot-bottle-${slug}`)).toBe(containerId)
  })

  it('rebuilds from the original image when the snapshot image was deleted', async () => {
    const slug = await sandbox.start()
    await inBottle(slug, 'echo lost > /root/work.txt')
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
    expect((await sandbox.task('cleanup', [slug])).exitCode).toBe(0)
    await docker('image', 'rm', `bot-bottle-committed-${slug}:latest`)

    const resumed = await sandbox.task('resume', [slug, '--json'])
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect(JSON.parse(resumed.stdout)).toMatchObject({ how: 'rebuilt', source: BASE_IMAGE })
    expect(await inBottle(slug, 'test -e /root/work.txt && echo present || echo absent')).toBe('absent')
  })

  it('rebuilds from the per-bottle Dockerfile when there is one', async () => {
    const slug = await sandbox.start()
    await writeFile(stateFile(slug, 'Dockerfile'), `FROM ${BASE_IMAGE}\nRUN echo from-dockerfile > /etc/rebuilt-marker\n`)
    expect((await sandbox.task('cleanup', [slug])).exitCode).toBe(0)
    // Not preserved (never committed): cleanup removed the state; write it back as bot-bottle would.
    await mkdir(join(sandbox.home, 'state', slug), { recursive: true })
    await writeFile(stateFile(slug, 'metadata.json'), JSON.stringify({ identity: slug, agent_name: 't' }))
    await writeFile(stateFile(slug, 'Dockerfile'), `FROM ${BASE_IMAGE}\nRUN echo from-dockerfile > /etc/rebuilt-marker\n`)

    const resumed = await sandbox.task('resume', [slug, '--json'])
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect(JSON.parse(resumed.stdout)).toMatchObject({ how: 'rebuilt', source: `bot-bottle-rebuilt-${slug}:latest` })
    expect(await inBottle(slug, 'cat /etc/rebuilt-marker')).toBe('from-dockerfile')
  })
})

describe('deep snapshots', () => {
  it('flattens a snapshot into one layer at the configured depth, keeping files, config and labels', async () => {
    const slug = await sandbox.start()
    await inBottle(slug, 'echo deep > /root/deep.txt')
    const committed = await sandbox.task('commit', [slug], { env: { BOTTLE_TASKS_FLATTEN_LAYERS: '2' } })
    expect(committed.exitCode, committed.stderr).toBe(0)
    expect(committed.stderr).toContain('Flatten the snapshot')
    const tag = `bot-bottle-committed-${slug}:latest`
    expect(JSON.parse(await docker('image', 'inspect', '--format', '{{json .RootFS.Layers}}', tag))).toHaveLength(1)
    expect(await docker('image', 'inspect', '--format', '{{json .Config.Cmd}}', tag)).toBe('["bash"]')
    expect(await docker('image', 'inspect', '--format', '{{index .Config.Labels "bot-bottle.slug"}}', tag)).toBe(slug)
    expect((await sandbox.task('cleanup', [slug])).exitCode).toBe(0)
    expect((await sandbox.task('resume', [slug])).exitCode).toBe(0)
    expect(await inBottle(slug, 'cat /root/deep.txt')).toBe('deep')
  })

  it('refuses a bad BOTTLE_TASKS_FLATTEN_LAYERS before touching anything', async () => {
    const slug = await sandbox.start()
    const result = await sandbox.task('commit', [slug], { env: { BOTTLE_TASKS_FLATTEN_LAYERS: '500' } })
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toContain('BOTTLE_TASKS_FLATTEN_LAYERS="500" is invalid')
    expect(existsSync(stateFile(slug, 'committed-image'))).toBe(false)
  })
})

describe('a bottle that bot-bottle made', () => {
  it('commits and resumes it, keeping the fields of metadata.json this toolkit does not know', async () => {
    const slug = sandbox.slug('dev')
    await mkdir(join(sandbox.home, 'state', slug), { recursive: true })
    const written = {
      identity: slug,
      agent_name: 'dev',
      cwd: '/work/project',
      copy_cwd: true,
      started_at: '2026-01-01T00:00:00+00:00',
      compose_project: `bot-bottle-${slug}`,
      backend: '',
      egress: { routes: ['github.com'] },
    }
    await writeFile(stateFile(slug, 'metadata.json'), JSON.stringify(written))
    await docker('run', '-dit', '--name', `bot-bottle-${slug}`, BASE_IMAGE)
    await inBottle(slug, 'echo from-bot-bottle > /root/made-by-bot-bottle.txt')

    const committed = await sandbox.task('commit', [slug])
    expect(committed.exitCode, committed.stderr).toBe(0)
    expect((await sandbox.task('cleanup', [slug])).exitCode).toBe(0)
    const resumed = await sandbox.task('resume', [slug])
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect(await inBottle(slug, 'cat /root/made-by-bot-bottle.txt')).toBe('from-bot-bottle')
    const metadata = JSON.parse(await readFile(stateFile(slug, 'metadata.json'), 'utf8'))
    expect(metadata).toMatchObject({ ...written, started_at: expect.not.stringMatching(/^2026-01-01/) })
  })
})

describe('cleanup', () => {
  it('removes bottles and unpreserved state, keeps preserved state, never touches other containers', async () => {
    const kept = await sandbox.start()
    const dropped = await sandbox.start()
    expect((await sandbox.task('commit', [kept])).exitCode).toBe(0)
    const bystander = `not-a-bottle-${kept}`
    sandbox.trackContainer(bystander)
    await docker('run', '-dit', '--name', bystander, BASE_IMAGE)
    // A bottle of another state root (another user, another test) is not ours to remove.
    const elsewhere = new Sandbox()
    const foreign = await elsewhere.start()

    const dry = await sandbox.task('cleanup', ['--dry-run', '--json'])
    expect(dry.exitCode, dry.stderr).toBe(0)
    expect(JSON.parse(dry.stdout).actions).toEqual(
      expect.arrayContaining([
        { slug: kept, what: 'keep-state', why: expect.any(String) },
        { slug: dropped, what: 'remove-state', why: 'not preserved' },
        { slug: dropped, what: 'remove-bottle', why: 'container is running' },
      ]),
    )
    expect(await docker('inspect', '--format', '{{.State.Running}}', `bot-bottle-${dropped}`)).toBe('true')
    expect(existsSync(join(sandbox.home, 'state', dropped))).toBe(true)

    const real = await sandbox.task('cleanup')
    expect(real.exitCode, real.stderr).toBe(0)
    expect(await dockerOk('inspect', `bot-bottle-${kept}`)).toBe(false)
    expect(await dockerOk('inspect', `bot-bottle-${dropped}`)).toBe(false)
    expect(existsSync(join(sandbox.home, 'state', kept, 'committed-image'))).toBe(true)
    expect(existsSync(join(sandbox.home, 'state', dropped))).toBe(false)
    expect(await docker('inspect', '--format', '{{.State.Running}}', bystander)).toBe('true')
    expect(await docker('inspect', '--format', '{{.State.Running}}', `bot-bottle-${foreign}`)).toBe('true')
    expect(await dockerOk('image', 'inspect', `bot-bottle-committed-${kept}:latest`)).toBe(true)
    await elsewhere.dispose()
  })
})
