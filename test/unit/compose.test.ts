// The compose file a commit keeps is the project's own text, as written: never `compose config`
// output, which carries the values of ${VAR} and the contents of env_file.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { keepComposeFile, ownComposeFile } from '../../lib/backends/compose.ts'
import { OperationError } from '../../lib/errors.ts'

const slug = 'dev-abc12'
const COMPOSE_TEXT = [
  'services:',
  '  agent:',
  '    image: agent:latest',
  '    env_file: ./agent.env',
  '    environment:',
  '      DB_PASSWORD: ${DB_PASSWORD}',
  '      MODE: ${MODE:-strict}',
  '',
].join('\n')

let home: string
let project: string
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'compose-unit-'))
  project = join(home, 'project')
  mkdirSync(join(home, 'state', slug), { recursive: true })
  mkdirSync(project)
  process.env.BOT_BOTTLE_HOME = home
})
afterEach(() => {
  delete process.env.BOT_BOTTLE_HOME
  rmSync(home, { recursive: true, force: true })
})

const compose = (configFiles: string[]) => ({ project: `bot-bottle-${slug}`, service: 'agent', configFiles, workingDir: project, sidecars: [] })

describe('keepComposeFile', () => {
  it("copies the project's file byte for byte: ${VAR} stays a reference, env_file stays a path", async () => {
    const file = join(project, 'compose.yaml')
    writeFileSync(file, COMPOSE_TEXT)
    writeFileSync(join(project, 'agent.env'), 'API_TOKEN=from-the-env-file\n')
    process.env.DB_PASSWORD = 'from-the-environment'
    try {
      expect(await keepComposeFile(slug, compose([file]))).toBe(COMPOSE_TEXT)
    } finally {
      delete process.env.DB_PASSWORD
    }
    const kept = readFileSync(join(home, 'state', slug, 'docker-compose.yml'), 'utf8')
    expect(kept).toBe(COMPOSE_TEXT)
    expect(kept).not.toMatch(/from-the-env-file|from-the-environment/)
  })

  it('keeps the file the state dir already has (bot-bottle wrote it)', async () => {
    writeFileSync(join(home, 'state', slug, 'docker-compose.yml'), 'services: {}\n')
    expect(await keepComposeFile(slug, compose([join(project, 'compose.yaml')]))).toBe('services: {}\n')
  })

  it('refuses a project of several files, naming them and the way out, and writes nothing', async () => {
    const files = [join(project, 'compose.yaml'), join(project, 'compose.override.yaml')]
    for (const file of files) writeFileSync(file, COMPOSE_TEXT)
    const refused = keepComposeFile(slug, compose(files))
    await expect(refused).rejects.toBeInstanceOf(OperationError)
    await expect(refused).rejects.toThrow(/ran from 2 files \(.*compose\.yaml, .*compose\.override\.yaml\).*write the merged file yourself, without values, to .*docker-compose\.yml/)
    expect(() => readFileSync(join(home, 'state', slug, 'docker-compose.yml'))).toThrow()
  })

  it('keeps nothing when the file the project ran from is gone (as before)', async () => {
    expect(await keepComposeFile(slug, compose([join(project, 'gone.yaml')]))).toBeUndefined()
    expect(await keepComposeFile(slug, compose([]))).toBeUndefined()
  })
})

describe('ownComposeFile', () => {
  it('is the one file, or none', () => {
    expect(ownComposeFile(['/p/compose.yaml'], '/s')).toBe('/p/compose.yaml')
    expect(ownComposeFile([], '/s')).toBeUndefined()
    expect(() => ownComposeFile(['/a', '/b'], '/s')).toThrow(OperationError)
  })
})
