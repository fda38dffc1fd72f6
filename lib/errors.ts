// The kinds of failure a task reports, and how each reads as one line for the user.
// Imported by every module that can fail; imports nothing of ours.

/** Bad usage or bad input, found before anything was touched: exit 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** An expected failure of the operation (plain message, no stack): exit 1. */
export class OperationError extends Error {
  override name = 'OperationError'
}

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

/** A failure as one line: known tool failures get the fix in the message. */
export function errorText(error: unknown): string {
  if (error instanceof StepError) return error.message
  if (error instanceof ToolError) return toolHint(error) ?? error.message
  if (error instanceof Error) return error.message.split('\n')[0] ?? String(error)
  return String(error)
}

function toolHint(error: ToolError): string | undefined {
  const tool = firstWord(error.command)
  if (error.exitCode === 127 && /not found/.test(error.stderr)) {
    return `"${tool}" is not on PATH: install it (see README prerequisites) or fix PATH`
  }
  if (/Cannot connect to the Docker daemon|error during connect|docker daemon is not running/i.test(error.stderr)) {
    return 'the Docker engine is not reachable: start Docker, or point DOCKER_HOST / the docker context at a running engine'
  }
  return undefined
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
