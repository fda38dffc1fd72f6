// Every task's --help comes from its flag table: each flag of the table (and the common ones) is
// listed with its short form and placeholder, and a flag the table does not have is bad usage:
// exit 2, one line. The tables are read by loading each task with runTask replaced by a recorder;
// the help and the refusal come from running the task itself.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import type { TaskDefinition } from '../../lib/cli.ts'
import type { Flags } from '../../lib/flags.ts'
import { ROOT } from '../helpers.ts'

const tables = vi.hoisted(() => new Map<string, TaskDefinition<Flags>>())
vi.mock('../../lib/cli.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../lib/cli.ts')>()),
  runTask: async (task: TaskDefinition<Flags>) => void tables.set(task.name, task),
}))

const TASKS = readdirSync(join(ROOT, 'tasks')).filter((file) => file.endsWith('.ts')).map((file) => file.replace(/\.ts$/, ''))
const COMMON: Flags = {
  verbose: { type: 'boolean', help: '' },
  version: { type: 'boolean', help: '' },
  help: { type: 'boolean', short: 'h', help: '' },
}

/** The task run as a user runs the script (not through go-task). */
async function run(task: string, args: string[]) {
  const env = { ...process.env, BOTTLE_TASKS_VIA_TASKFILE: undefined, BOT_BOTTLE_HOME: '/nonexistent/bottle-tasks-help-test' }
  const result = await execa(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'tasks', `${task}.ts`), ...args], { cwd: ROOT, env, reject: false })
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr }
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

type Run = Awaited<ReturnType<typeof run>>
const helps = new Map<string, Run>()
const refusals = new Map<string, Run>()
beforeAll(async () => {
  for (const task of TASKS) await import(join(ROOT, 'tasks', `${task}.ts`))
  // The subprocesses side by side: each is mostly Node's start-up.
  await Promise.all(TASKS.flatMap((task) => [run(task, ['--help']).then((result) => helps.set(task, result)), run(task, ['--no-such-flag']).then((result) => refusals.set(task, result))]))
})

describe('flag tables and --help', () => {
  it('every task script has a table', () => {
    expect([...tables.keys()].sort()).toEqual([...TASKS].sort())
    expect(TASKS).toEqual(expect.arrayContaining(['start', 'list', 'commit', 'resume', 'prune', 'fork', 'export', 'import', 'cleanup']))
  })

  it.each(TASKS)('%s --help lists every flag of its table, short forms and placeholders included', async (task) => {
    const help = helps.get(task)!
    expect(help.exitCode, help.stderr).toBe(0)
    const flagLines = help.stdout.split('\n').filter((line) => /^ {2}(-\w, | {4})--[\w-]+/.test(line))
    const table = { ...tables.get(task)!.flags, ...COMMON }
    for (const [name, flag] of Object.entries(table)) {
      const shown = `${flag.short ? `-${flag.short}, ` : '    '}--${name}${flag.arg ? ` ${flag.arg}` : ''}`
      expect(flagLines, `${task}: --${name}`).toContainEqual(expect.stringMatching(new RegExp(`^ {2}${escape(shown)}\\s{2,}${escape(flag.help)}`)))
    }
    // And nothing the table does not have.
    expect(flagLines).toHaveLength(Object.keys(table).length)
  })

  it('export shows -o for --output', async () => {
    expect(helps.get('export')!.stdout).toMatch(/^ {2}-o, --output FILE {2,}\S/m)
  })

  it.each(TASKS)('%s refuses a flag its table does not have: exit 2, one line', async (task) => {
    const result = refusals.get(task)!
    expect(result.exitCode).toBe(2)
    expect(result.stdout).toBe('')
    expect(result.stderr).toBe(`${task}: Unknown option '--no-such-flag' (see --help)`)
  })
})
