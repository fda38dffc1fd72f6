// How a task meets its user: one flag table that gives both the parser and --help, exit codes,
// every failure as one line, results on stdout, and hints that name the way the task was run.
import { existsSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { runCleanups } from './cleanup.ts'
import { SETTINGS_HELP, settings } from './config.ts'
import { StepError, UsageError, errorText } from './errors.ts'
import { flag, flagHelp, parseFlags, type FlagValues, type Flags } from './flags.ts'
import { setVerbose, sh } from './shell.ts'

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const

type TaskFlagValues<F extends Flags> = FlagValues<F> & { verbose: boolean }

export interface TaskDefinition<F extends Flags> {
  name: string
  summary: string
  /** What follows the command in the usage line, e.g. `[SLUG] --keep N`. */
  usage: string
  flags: F
  /** Shown the way the task was run (go-task, tsx or a bundle). */
  examples: Example[]
  run: (args: { values: TaskFlagValues<F>; positionals: string[] }) => Promise<void>
  /** The task answers SIGINT/SIGTERM itself (watch: a stop between commits is not an interrupt); see interrupt(). */
  ownSignals?: boolean
}

const COMMON: Flags = {
  verbose: flag.boolean('show each command as it runs'),
  version: flag.boolean('print the version and the commit it was built from'),
  help: flag.boolean('show this help', { short: 'h' }),
}

/** Run a task: parse flags, answer --help/--version, map every failure to a line and an exit code. */
export async function runTask<F extends Flags>(task: TaskDefinition<F>, argv = process.argv.slice(2)): Promise<void> {
  if (!task.ownSignals) installInterruptHandlers(task.name)
  try {
    const { values, positionals } = parseFlags({ ...task.flags, ...COMMON }, argv)
    if (values.help) return void process.stdout.write(helpText(task))
    if (values.version) return void process.stdout.write(`${task.name} ${await version()}\n`)
    setVerbose(Boolean(values.verbose))
    settings()
    await task.run({ values: values as TaskFlagValues<F>, positionals })
  } catch (error) {
    process.exitCode = reportFailure(task.name, error)
  } finally {
    await runCleanups()
  }
}

export function helpText<F extends Flags>(task: TaskDefinition<F>): string {
  return [
    `${task.name}: ${task.summary}`,
    '',
    `Usage: ${usageLine(task.name, task.usage)}`,
    '',
    'Flags:',
    ...flagHelp(task.flags),
    ...flagHelp(COMMON),
    '',
    'Environment:',
    '  BOT_BOTTLE_HOME              state root (default ~/.bot-bottle)',
    '  DOCKER_HOST                  Docker engine to use (docker contexts are honoured too)',
    ...SETTINGS_HELP,
    '',
    'Examples:',
    ...task.examples.map((example) => `  ${commandLine(task.name, example)}`),
    '',
    'Exit codes: 0 done, 1 failed, 2 bad usage or input (nothing touched), 130 interrupted',
    '',
  ].join('\n')
}

/** An example or a hint: the bottle it is about (if any) and the rest of the arguments. */
export interface Example {
  slug?: string
  args?: string
}

/**
 * How to run a task the way this one was run: `task resume SLUG=x -- --attach` under go-task,
 * `npx tsx tasks/resume.ts x --attach` from the scripts, `node dist/resume.mjs x` for a bundle (a
 * bundle copied alone into another repository says where the other task comes from).
 */
export function commandLine(taskName: string, { slug, args }: Example = {}): string {
  if (process.env.BOTTLE_TASKS_VIA_TASKFILE) return [`task ${taskName}`, slug && `SLUG=${slug}`, args && `-- ${args}`].filter(Boolean).join(' ')
  const { command, missing } = scriptCommand(taskName)
  // A bundle copied alone: the command still runs once the other bundle is copied beside it.
  return [command, slug, args].filter(Boolean).join(' ') + (missing ? ` (copy ${taskName}.mjs from bottle-tasks' dist/ beside it first)` : '')
}

function usageLine(taskName: string, usage: string): string {
  if (!process.env.BOTTLE_TASKS_VIA_TASKFILE) return `${scriptCommand(taskName).command} ${usage}`
  const [, slug = '', rest = ''] = /^(\[?SLUG\]?)?\s*(.*)$/.exec(usage) ?? []
  return [`task ${taskName}`, slug.replace('SLUG', 'SLUG=…'), rest && `-- ${rest}`].filter(Boolean).join(' ')
}

function scriptCommand(taskName: string): { command: string; missing: boolean } {
  const script = process.argv[1] ?? ''
  const bundled = script.endsWith('.mjs')
  const sibling = join(dirname(script), `${taskName}${bundled ? '.mjs' : '.ts'}`)
  const shown = relative(process.cwd(), sibling) || sibling
  return { command: `${bundled ? 'node' : 'npx tsx'} ${shown}`, missing: !existsSync(sibling) }
}

/** The package version and the commit it was built from (baked into bundles; asked of git otherwise). */
async function version(): Promise<string> {
  if (typeof __BOTTLE_TASKS_VERSION__ === 'string') return __BOTTLE_TASKS_VERSION__
  const { readFile } = await import('node:fs/promises')
  const root = `${import.meta.dirname}/..`
  const pkg = JSON.parse(await readFile(`${root}/package.json`, 'utf8')) as { version: string }
  const git = await sh({ nothrow: true })`git -C ${root} rev-parse --short HEAD`.catch(() => undefined)
  // Not a git checkout, or no git: the version alone.
  const commit = git?.exitCode === 0 ? git.stdout.trim() : 'unknown commit'
  return `${pkg.version} (${commit})`
}
declare const __BOTTLE_TASKS_VERSION__: string | undefined

/** Print one line for the user and return the exit code. */
export function reportFailure(taskName: string, error: unknown): number {
  if (error instanceof UsageError || isParseArgsError(error)) {
    // parseArgs explains at length; its first sentence is the part that names the bad flag.
    const message = error instanceof UsageError ? error.message : (error as Error).message.split(/\. /)[0]!.replace(/\.$/, '')
    process.stderr.write(`${taskName}: ${message} (see --help)\n`)
    return EXIT.usage
  }
  if (error instanceof StepError && error.cause instanceof UsageError) {
    process.stderr.write(`${taskName}: ${error.cause.message}\n`)
    return EXIT.usage
  }
  process.stderr.write(`${taskName} failed ${error instanceof StepError ? error.message : `: ${errorText(error)}`}\n`.replace(' : ', ': '))
  if (process.env.BOTTLE_TASKS_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`)
  return EXIT.failed
}

function isParseArgsError(error: unknown): boolean {
  return error instanceof Error && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')
}

function installInterruptHandlers(taskName: string): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // `on`, not `once`: a library loaded later that re-raises a signal it sees no other listener for
    // (signal-exit does) would kill the process before the cleanup is done.
    process.on(signal, () => interrupt(taskName))
  }
}

let interrupted = false

/** Remove temporary resources and exit 130: what SIGINT and SIGTERM do to a task (once). */
export function interrupt(taskName: string): void {
  if (interrupted) return
  interrupted = true
  process.stderr.write(`\n${taskName}: interrupted, removing temporary resources\n`)
  void runCleanups().finally(() => process.exit(EXIT.interrupted))
}

/** Results go to stdout, as JSON with `--json`. */
export function printResult(json: boolean | undefined, data: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : human())
}
