// The smolmachines backend hands this host's env values to a VM on exec's stdin, never on an argv
// (ps, --verbose): every command a boot spawns is recorded here (the shell wrapper is replaced by a
// recorder, so nothing runs) and searched for the value.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { SmolRun } from '../../lib/run-config.ts'

const spawned = vi.hoisted(() => [] as Array<{ argv: string[]; input?: string | Buffer }>)

vi.mock('../../lib/shell.ts', () => {
  const ok = { stdout: '', stderr: '', exitCode: 0 }
  /** The argv a zx template would run: its words, each interpolated value one argument (arrays several). */
  const record = (pieces: TemplateStringsArray, values: unknown[], input?: string | Buffer) => {
    const argv = pieces.flatMap((piece, i) => [...piece.split(/\s+/).filter(Boolean), ...(i < values.length ? [values[i]].flat().map(String) : [])])
    spawned.push({ argv, input })
    return Promise.resolve(ok)
  }
  function sh(first: unknown, ...rest: unknown[]) {
    if (!Array.isArray(first)) return (pieces: TemplateStringsArray, ...values: unknown[]) => record(pieces, values, (first as { input?: string }).input)
    return record(first as unknown as TemplateStringsArray, rest)
  }
  return {
    sh,
    run: async (argv: readonly string[], options: { input?: string | Buffer } = {}) => {
      spawned.push({ argv: [...argv], input: options.input })
      return ok
    },
  }
})

const VALUE = `ghp_${Math.random().toString(36).slice(2)}'with "quotes" $HOME \`and\`\nlines`
const bottle = { slug: 'dev-abc12', metadata: { identity: 'dev-abc12', agent_name: 'dev', backend: 'smolmachines' as const } }
const run: SmolRun = { backend: 'smolmachines', network: true, volumes: [], ports: [], envNames: ['BT_UNIT_TOKEN', 'BT_UNIT_ABSENT'], user: 'node' }

beforeEach(() => {
  spawned.length = 0
  process.env.BT_UNIT_TOKEN = VALUE
})
afterEach(() => {
  delete process.env.BT_UNIT_TOKEN
})

describe('smolmachines: values from this host', () => {
  it('never puts a value on an argv a boot spawns; it goes in on stdin, and resume says which by name', async () => {
    const { smolmachinesBackend } = await import('../../lib/backends/smolmachines.ts')
    const reports: string[] = []
    await smolmachinesBackend.boot(bottle as never, '/state/dev-abc12/committed-smolmachine.smolmachine', { run, relax: new Set(), report: (line) => reports.push(line) })

    const commands = spawned.map(({ argv }) => argv.slice(0, 3).join(' '))
    expect(commands).toEqual(expect.arrayContaining(['smolvm machine create', 'smolvm machine start', 'smolvm machine exec']))
    for (const { argv } of spawned) {
      for (const argument of argv) expect(argument).not.toContain(VALUE.slice(0, 12))
    }
    const handedIn = spawned.filter(({ input }) => input !== undefined)
    expect(handedIn).toHaveLength(1)
    expect(handedIn[0]!.argv.slice(0, 7)).toEqual(['smolvm', 'machine', 'exec', '--name', 'bot-bottle-dev-abc12', '-i', '--'])
    expect(String(handedIn[0]!.input)).toContain('export BT_UNIT_TOKEN=')
    expect(String(handedIn[0]!.input)).not.toContain('BT_UNIT_ABSENT')
    expect(reports).toContain("handed in from this host's environment: BT_UNIT_TOKEN")
    expect(reports).toContain('not in this environment, so not supplied: BT_UNIT_ABSENT')
    expect(reports.join('\n')).not.toContain(VALUE.slice(0, 12))
  })

  it("keeps the agent's user on create's argv, and nothing of this host's environment", async () => {
    const { machineSpec } = await import('../../lib/backends/smolmachines.ts')
    const { createArgs } = await import('../../lib/smolvm.ts')
    const argv = createArgs(machineSpec(bottle as never, '/p.smolmachine', run))
    expect(argv).toEqual(expect.arrayContaining(['-e', 'BOT_BOTTLE_USER=node']))
    expect(argv.filter((argument) => argument === '-e')).toHaveLength(1)
    expect(argv.join(' ')).not.toContain(VALUE.slice(0, 12))
  })

  it('refuses a record whose variable names no shell can set, before anything is spawned', async () => {
    const { smolmachinesBackend } = await import('../../lib/backends/smolmachines.ts')
    const hostile = { ...run, envNames: ['OK_NAME', 'X; touch /tmp/owned'] }
    await expect(smolmachinesBackend.boot(bottle as never, '/p.smolmachine', { run: hostile, relax: new Set(), report: () => {} })).rejects.toThrow(/no shell can set \("X; touch \/tmp\/owned"\)/)
    expect(spawned).toEqual([])
  })
})

describe('the file the agent shell reads', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'smol-env-unit-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('gives a POSIX shell each value exactly, quotes, newlines and all', async () => {
    const { hostEnvFile } = await import('../../lib/backends/smolmachines.ts')
    const file = join(dir, 'host-env')
    writeFileSync(file, hostEnvFile(['BT_UNIT_TOKEN']))
    const seen = execFileSync('sh', ['-c', '. "$1" && printf %s "$BT_UNIT_TOKEN"', 'sh', file], { env: { PATH: process.env.PATH }, encoding: 'utf8' })
    expect(seen).toBe(VALUE)
  })
})
