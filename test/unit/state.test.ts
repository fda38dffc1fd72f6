import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { UsageError } from '../../lib/errors.ts'
import {
  backendOf,
  isPreserved,
  listStateSlugs,
  markPreserved,
  metadataSchema,
  readCommittedImage,
  readMetadata,
  stateDir,
  stateRoot,
  writeAtomic,
  writeCommittedImage,
  writeMetadata,
} from '../../lib/state.ts'

let home: string
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'state-unit-'))
  process.env.BOT_BOTTLE_HOME = home
})
afterEach(() => {
  delete process.env.BOT_BOTTLE_HOME
  rmSync(home, { recursive: true, force: true })
})

describe('state root', () => {
  it('honours BOT_BOTTLE_HOME, else ~/.bot-bottle', () => {
    expect(stateDir('dev-abc12')).toBe(join(home, 'state', 'dev-abc12'))
    delete process.env.BOT_BOTTLE_HOME
    expect(stateRoot()).toMatch(/\.bot-bottle$/)
  })
})

describe('metadata', () => {
  it('keeps fields it does not know when rewritten', async () => {
    await mkdir(stateDir('dev-abc12'), { recursive: true })
    const original = { identity: 'dev-abc12', agent_name: 'dev', backend: '', egress: { routes: ['x'] }, future: 1 }
    await writeFile(join(stateDir('dev-abc12'), 'metadata.json'), JSON.stringify(original))
    const metadata = await readMetadata('dev-abc12')
    expect(backendOf(metadata)).toBe('docker')
    await writeMetadata('dev-abc12', { ...metadata, started_at: 'now' })
    expect(JSON.parse(readFileSync(join(stateDir('dev-abc12'), 'metadata.json'), 'utf8'))).toEqual({ ...original, started_at: 'now' })
  })

  it('rejects wrong types and unknown backends', () => {
    expect(metadataSchema.safeParse({ identity: 1, agent_name: 'x' }).success).toBe(false)
    expect(metadataSchema.safeParse({ identity: 'x' }).success).toBe(false)
    expect(metadataSchema.safeParse({ identity: 'x', agent_name: 'x', backend: 'vmware' }).success).toBe(false)
    expect(metadataSchema.safeParse({ identity: 'x', agent_name: 'x', backend: 'smolmachines' }).success).toBe(true)
  })

  it('turns a missing or corrupt file into a UsageError naming it, leaving it untouched', async () => {
    await expect(readMetadata('nope')).rejects.toThrow(UsageError)
    await mkdir(stateDir('bad'), { recursive: true })
    const file = join(stateDir('bad'), 'metadata.json')
    await writeFile(file, '{oops')
    await expect(readMetadata('bad')).rejects.toThrow(file)
    expect(readFileSync(file, 'utf8')).toBe('{oops')
  })
})

describe('committed image, preserve marker, atomic writes', () => {
  it('records the snapshot on one line and marks the bottle preserved', async () => {
    await mkdir(stateDir('dev-abc12'), { recursive: true })
    expect(await readCommittedImage('dev-abc12')).toBeUndefined()
    expect(isPreserved('dev-abc12')).toBe(false)
    await writeCommittedImage('dev-abc12', 'bot-bottle-committed-dev-abc12:latest')
    await markPreserved('dev-abc12')
    expect(readFileSync(join(stateDir('dev-abc12'), 'committed-image'), 'utf8')).toBe('bot-bottle-committed-dev-abc12:latest\n')
    expect(await readCommittedImage('dev-abc12')).toBe('bot-bottle-committed-dev-abc12:latest')
    expect(isPreserved('dev-abc12')).toBe(true)
  })

  it('leaves no temp file behind, and the old content when the write fails', async () => {
    const dir = join(home, 'atomic')
    await mkdir(dir)
    const file = join(dir, 'f')
    await writeAtomic(file, 'one')
    await writeAtomic(file, 'two')
    expect(readdirSync(dir)).toEqual(['f'])
    await expect(writeAtomic(join(dir, 'missing-dir', 'f'), 'x')).rejects.toThrow()
    expect(readFileSync(file, 'utf8')).toBe('two')
  })

  it('lists only state dirs whose names are valid slugs', async () => {
    for (const name of ['dev-abc12', 'Bad Name', 'ok-00000']) await mkdir(stateDir(name), { recursive: true })
    expect(await listStateSlugs()).toEqual(['dev-abc12', 'ok-00000'])
  })
})
