// One place that runs external commands: zx's `$`. A value in a template is one argument (zx
// quotes it for the shell), an array several, nothing is ever spliced into a command string.
// What zx does not give is here: a failure as the project's one-line ToolError (exit code 127 and
// the "not on PATH" hint for a missing command, 128 + its number for a command killed by a
// signal), and no terminal on stdin unless input is given. `--verbose` is zx's own log (each
// command, then its output, on stderr). zx is loaded by the first command, not before: `--help`
// and `list` (which reads the Engine API) run none.
import { constants } from 'node:fs'
import { access } from 'node:fs/promises'
import { constants as osConstants } from 'node:os'
import { delimiter, join } from 'node:path'
import type { ProcessOutput } from 'zx/core'
import { ToolError } from './errors.ts'

let verbose = false

/** Show each command as it runs, and its output (`--verbose`). */
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

export interface CommandResult {
  stdout: string
  stderr: string
  exitCode: number
}

type Template = (pieces: TemplateStringsArray, ...args: unknown[]) => Promise<CommandResult>

let zx: Promise<typeof import('zx/core')> | undefined
const loadZx = () => (zx ??= import('zx/core'))

/**
 * Run a command; on failure throw a ToolError that names it. `sh(options)` gives the same with
 * options: sh({ input })`docker build -`.
 */
export function sh(options: ShOptions): Template
export function sh(pieces: TemplateStringsArray, ...args: unknown[]): Promise<CommandResult>
export function sh(first: ShOptions | TemplateStringsArray, ...args: unknown[]): Template | Promise<CommandResult> {
  if (!Array.isArray(first)) return (pieces, ...rest) => execute(pieces, rest, first as ShOptions)
  return execute(first as TemplateStringsArray, args, {})
}

/** Run argv as it is: each element one argument. */
export function run(argv: readonly string[], options: ShOptions = {}): Promise<CommandResult> {
  return execute(Object.assign(['', ''], { raw: ['', ''] }), [argv], options)
}

/** Run argv on this terminal (stdin, stdout and stderr are the user's): an interactive shell. Returns its exit code. */
export async function interactive(argv: readonly string[]): Promise<number> {
  const { $ } = await loadZx()
  return exitCodeOf(await $({ stdio: 'inherit', nothrow: true, verbose })`${argv}`)
}

async function execute(pieces: TemplateStringsArray, values: unknown[], options: ShOptions): Promise<CommandResult> {
  const { $ } = await loadZx()
  const command = $({
    verbose,
    quiet: !verbose,
    nothrow: true,
    // No input: the command reads nothing (EOF at once), never the user's terminal.
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    ...(options.input === undefined ? {} : { input: options.input }),
    ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
  })(pieces, ...values.map((value) => (Array.isArray(value) ? value.map(String) : String(value))))
  const output: ProcessOutput = await command
  const exitCode = exitCodeOf(output)
  // Without a shell to say it (zx could not start one): its own reason.
  const stderr = output.exitCode === null && !output.signal ? `${output.cause?.message ?? 'could not be started'}` : output.stderr
  const result = { stdout: output.stdout, stderr, exitCode }
  if (exitCode !== 0 && !options.nothrow) throw new ToolError(command.cmd, exitCode, stderr)
  return result
}

/** As a shell reports it: a command killed by a signal exits 128 + the signal's number. */
function exitCodeOf(output: ProcessOutput): number {
  if (output.exitCode !== null) return output.exitCode
  return output.signal ? 128 + osConstants.signals[output.signal] : 127
}

/**
 * Whether a command is on PATH: looked up here rather than with zx's `which`, so that a task that
 * only needs to know (`list`, the backend check) does not load zx for it.
 */
export async function isOnPath(command: string): Promise<boolean> {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean)
  const found = await Promise.all(dirs.map((dir) => access(join(dir, command), constants.X_OK).then(() => true, () => false)))
  return found.includes(true)
}
