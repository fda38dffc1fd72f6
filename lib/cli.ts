// Flags, --help, exit codes, and turning any failure into one line for the user.
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { ToolError, setVerbose } from './shell.ts'
import { SETTINGS_HELP, settings } from './config.ts'

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const

/** Bad usage or bad input, found before anything was touched: exit 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** An expected failure of the operation (plain message, no stack): exit 1. */
export class OperationError extends Error {
  override name = 'OperationError'
}

/** A failure inside a named step of a pipeline. */
export class StepError extends Error {
  constructor(
    readonly step: string,
    override readonly cause: unknown,
  ) {
    super(`at "${step}": ${errorText(cause)}`)
    this.name = 'StepError'
  }
}

type Options = NonNullable<ParseArgsConfig['options']>

export interface TaskDefinition<O extends Options> {
  name: string
  summary: string
  usage: string
  /** Lines of `--help` describing each flag. */
  flags: string[]
  examples: string[]
  options: O
  run: (args: { values: ParsedValues<O>; positionals: string[] }) => Promise<void>
}

type ParsedValues<O extends Options> = {
  [K in keyof O]: O[K] extends { type: 'boolean' } ? boolean | undefined : string | undefined
} & { verbose?: boolean; json?: boolean }

const COMMON_FLAGS = {
  help: { type: 'boolean', short: 'h' },
  verbose: { type: 'boolean' },
} as const

/** Run a task's `main`: parse flags, answer --help, map every failure to a line and an exit code. */
export async function runTask<O extends Options>(task: TaskDefinition<O>, argv = process.argv.slice(2)): Promise<void> {
  installInterruptHandlers(task.name)
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...COMMON_FLAGS, ...task.options },
      allowPositionals: true,
      strict: true,
    }) as unknown as { values: Record<string, string | boolean | undefined>; positionals: string[] }
    if (values.help) {
      process.stdout.write(helpText(task))
      return
    }
    setVerbose(Boolean(values.verbose))
    settings()
    await task.run({ values: values as unknown as ParsedValues<O>, positionals })
  } catch (error) {
    process.exitCode = reportFailure(task.name, error)
  } finally {
    await runCleanups()
  }
}

export function helpText<O extends Options>(task: TaskDefinition<O>): string {
  return [
    `${task.name}: ${task.summary}`,
    '',
    `Usage: ${task.usage}`,
    '',
    'Flags:',
    ...task.flags.map((line) => `  ${line}`),
    '  --verbose          show each command as it runs',
    '  -h, --help         show this help',
    '',
    'Environment:',
    '  BOT_BOTTLE_HOME    state root (default ~/.bot-bottle)',
    '  DOCKER_HOST        Docker engine to use (docker contexts are honoured too)',
    ...SETTINGS_HELP,
    '',
    'Examples:',
    ...task.examples.map((line) => `  ${line}`),
    '',
    'Exit codes: 0 done, 1 failed, 2 bad usage or input (nothing touched), 130 interrupted',
    '',
  ].join('\n')
}

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

/** A failure as one line: known tool failures get the fix in the message. */
export function errorText(error: unknown): string {
  if (error instanceof StepError) return error.message
  if (error instanceof ToolError) return toolHint(error) ?? error.message
  if (error instanceof Error) return error.message.split('\n')[0] ?? String(error)
  return String(error)
}

function toolHint(error: ToolError): string | undefined {
  const tool = error.command.trim().split(/\s+/)[0] ?? ''
  if (error.exitCode === 127 && /not found/.test(error.stderr)) {
    return `"${tool}" is not on PATH: install it (see README prerequisites) or fix PATH`
  }
  if (/Cannot connect to the Docker daemon|error during connect|docker daemon is not running/i.test(error.stderr)) {
    return 'the Docker engine is not reachable: start Docker, or point DOCKER_HOST / the docker context at a running engine'
  }
  return undefined
}

function isParseArgsError(error: unknown): boolean {
  return error instanceof Error && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')
}

// Temporary resources register their removal here before they are created, so a failure,
// Ctrl-C or SIGTERM removes them too.
const cleanups: Array<() => Promise<void> | void> = []

export function registerCleanup(cleanup: () => Promise<void> | void): () => void {
  cleanups.push(cleanup)
  return () => {
    const index = cleanups.indexOf(cleanup)
    if (index >= 0) cleanups.splice(index, 1)
  }
}

async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const cleanup = cleanups.pop()!
    try {
      await cleanup()
    } catch (error) {
      process.stderr.write(`warning: cleanup failed: ${errorText(error)}\n`)
    }
  }
}

function installInterruptHandlers(taskName: string): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${taskName}: interrupted, removing temporary resources\n`)
      void runCleanups().finally(() => process.exit(EXIT.interrupted))
    })
  }
}

/** Results go to stdout, as JSON with `--json`. */
export function printResult(json: boolean | undefined, data: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : human())
}
