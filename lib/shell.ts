// One place that sets up how we run external commands.
// zx's `$` escapes every interpolated value, so values are passed, never spliced into strings.
import { $, ProcessOutput, type ProcessPromise } from 'zx/core'

// Quiet by default: a task shows steps, not the tools' chatter (`--verbose` shows commands).
$.quiet = true
export { $ }

/** A command that ran and failed: carries the command line, its exit code and its stderr. */
export class ToolError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${firstWord(command)}: ${lastLines(stderr) || `exit code ${exitCode}`}`)
    this.name = 'ToolError'
  }
}

/** Show each command as it runs (`--verbose`). */
export function setVerbose(verbose: boolean): void {
  $.verbose = verbose
  $.quiet = !verbose
}

/** Run a command; on failure throw a ToolError that names it. */
export async function sh(pieces: TemplateStringsArray, ...args: unknown[]): Promise<ProcessOutput> {
  const running = $(pieces, ...(args as never[]))
  try {
    return await running
  } catch (error) {
    throw asToolError(running, error)
  }
}

/** Like `sh`, but a non-zero exit is data, not an error. */
export function shNothrow(pieces: TemplateStringsArray, ...args: unknown[]): Promise<ProcessOutput> {
  return $({ nothrow: true })(pieces, ...(args as never[]))
}

export function asToolError(running: ProcessPromise, error: unknown): Error {
  if (!(error instanceof ProcessOutput)) return error as Error
  return new ToolError(running.cmd, error.exitCode, error.stderr)
}

function firstWord(command: string): string {
  return command.trim().split(/\s+/)[0] ?? command
}

/** The part of a tool's stderr worth showing on one line. */
export function lastLines(stderr: string, count = 2): string {
  return stderr
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-count)
    .join(' / ')
}

/** Whether a command is on PATH (quietly; `verify…` helpers turn false into a message). */
export async function isOnPath(command: string): Promise<boolean> {
  const result = await shNothrow`command -v ${command}`
  return result.exitCode === 0
}
