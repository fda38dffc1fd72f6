// One place that sets up how we run external commands.
// zx's `$` escapes every interpolated value, so values are passed, never spliced into strings.
import { constants } from 'node:fs'
import { access } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import type { ProcessOutput, ProcessPromise } from 'zx/core'
import { ToolError } from './errors.ts'

// zx is loaded on the first command, not at start-up: --help and the Engine API reads never need it.
let zx: Promise<typeof import('zx/core')> | undefined
let verbose = false
const loadZx = () =>
  (zx ??= import('zx/core').then((module) => {
    // Quiet by default: a task shows steps, not the tools' chatter (`--verbose` shows commands).
    module.$.verbose = verbose
    module.$.quiet = !verbose
    return module
  }))

/** Show each command as it runs (`--verbose`). */
export function setVerbose(value: boolean): void {
  verbose = value
}

export interface ShOptions {
  /** Fed to the command's stdin. */
  input?: string | Buffer
  /** A non-zero exit is data, not an error. */
  nothrow?: boolean
  /** Added to this process's environment. */
  env?: Record<string, string>
}

type Template = (pieces: TemplateStringsArray, ...args: unknown[]) => Promise<ProcessOutput>

/**
 * Run a command; on failure throw a ToolError that names it. `sh(options)` gives the same with
 * options: sh({ input })`docker build -`.
 */
export function sh(options: ShOptions): Template
export function sh(pieces: TemplateStringsArray, ...args: unknown[]): Promise<ProcessOutput>
export function sh(first: ShOptions | TemplateStringsArray, ...args: unknown[]): Template | Promise<ProcessOutput> {
  if (!Array.isArray(first)) return (pieces, ...rest) => run(first as ShOptions, pieces, rest)
  return run({}, first as TemplateStringsArray, args)
}

async function run(options: ShOptions, pieces: TemplateStringsArray, args: unknown[]): Promise<ProcessOutput> {
  const { $, ProcessOutput } = await loadZx()
  const running = $({
    nothrow: options.nothrow ?? false,
    ...(options.input === undefined ? {} : { input: options.input }),
    ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
  })(pieces, ...(args as never[]))
  try {
    return await running
  } catch (error) {
    throw error instanceof ProcessOutput ? toolError(running, error) : error
  }
}

function toolError(running: ProcessPromise, error: ProcessOutput): ToolError {
  return new ToolError(running.cmd, error.exitCode, error.stderr)
}

/** Whether a command is on PATH (looked up here, without spawning a shell). */
export async function isOnPath(command: string): Promise<boolean> {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean)
  const found = await Promise.all(dirs.map((dir) => access(join(dir, command), constants.X_OK).then(() => true, () => false)))
  return found.includes(true)
}
