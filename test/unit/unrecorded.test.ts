// A snapshot with no record of how it ran boots nothing unless the user relaxes `unrecorded`, on
// every backend (the error path; the CLI wrappers are mocks that note what would have been made).
import { beforeEach, describe, expect, it, vi } from 'vitest'
import type { BottleBackend } from '../../lib/backends/types.ts'
import { Unreproducible } from '../../lib/run-config.ts'

const made = vi.hoisted(() => [] as string[])

vi.mock('../../lib/docker.ts', () => ({
  inspectImageIfPresent: async () => null,
  createContainer: async () => void made.push('docker create'),
  startContainer: async () => void made.push('docker start'),
  copyInto: async () => {},
}))
vi.mock('../../lib/container.ts', () => ({
  imageExists: async () => true,
  imageConfig: async () => ({}),
  runDetached: async () => void made.push('container run'),
}))
vi.mock('../../lib/smolvm.ts', () => ({
  createFromPack: async () => void made.push('smolvm machine create'),
  startMachine: async () => void made.push('smolvm machine start'),
  deleteMachine: async () => {},
  exec: async () => ({ stdout: '', stderr: '', exitCode: 0 }),
}))

const backends: Array<[string, () => Promise<BottleBackend>, string]> = [
  ['docker', async () => (await import('../../lib/backends/docker.ts')).dockerBackend, 'bot-bottle-committed-dev-abc12:latest'],
  ['macos-container', async () => (await import('../../lib/backends/macos-container.ts')).macosContainerBackend, 'bot-bottle-committed-dev-abc12:latest'],
  ['smolmachines', async () => (await import('../../lib/backends/smolmachines.ts')).smolmachinesBackend, '/state/dev-abc12/snapshot.smolmachine'],
]
const bottle = { slug: 'dev-abc12', metadata: { identity: 'dev-abc12', agent_name: 'dev', cwd: '/work', copy_cwd: false, started_at: '2026-01-01T00:00:00Z', compose_project: '', backend: '' } }

beforeEach(() => {
  made.length = 0
})

describe.each(backends)('%s: a snapshot without a record of how it ran', (_name, load, source) => {
  it('is refused, naming --relax unrecorded, and nothing is made', async () => {
    const backend = await load()
    const refused = backend.boot(bottle as never, source, { run: undefined, relax: new Set(), report: () => {} })
    await expect(refused).rejects.toBeInstanceOf(Unreproducible)
    await expect(refused).rejects.toMatchObject({ key: 'unrecorded', message: expect.stringContaining('--relax unrecorded') })
    expect(made).toEqual([])
  })

  it("refuses a run recorded for another backend, even relaxed, and makes nothing", async () => {
    const backend = await load()
    const other = { backend: backend.name === 'docker' ? 'smolmachines' : 'docker' }
    await expect(backend.boot(bottle as never, source, { run: other as never, relax: new Set(['unrecorded']), report: () => {} })).rejects.toThrow(`the recorded run configuration is a ${other.backend} bottle's, not a ${backend.name} one`)
    expect(made).toEqual([])
  })

  it('boots a never-committed bottle rebuilt from its image as start made it, but not a compose one', async () => {
    const backend = await load()
    const reports: string[] = []
    expect(await backend.boot(bottle as never, source, { run: undefined, rebuilt: true, relax: new Set(), report: (line) => reports.push(line) })).toEqual([])
    expect(made.length).toBeGreaterThan(0)
    expect(reports).toContainEqual(expect.stringContaining('booting as start makes a bottle'))
    made.length = 0
    const compose = { ...bottle, metadata: { ...bottle.metadata, compose_project: 'bot-bottle-dev-abc12' } }
    await expect(backend.boot(compose as never, source, { run: undefined, rebuilt: true, relax: new Set(), report: () => {} })).rejects.toMatchObject({ key: 'unrecorded' })
    expect(made).toEqual([])
  })

  it('boots with defaults when relaxed, and says so', async () => {
    const backend = await load()
    const reports: string[] = []
    const relaxed = await backend.boot(bottle as never, source, { run: undefined, relax: new Set(['unrecorded']), report: (line) => reports.push(line) })
    expect(made.length).toBeGreaterThan(0)
    expect(relaxed).toEqual([expect.stringMatching(/^unrecorded: there is no record of how this bottle ran/)])
    expect(reports).toContainEqual(expect.stringMatching(/^relaxed \(--relax unrecorded\)/))
  })
})
