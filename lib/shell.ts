// One place that runs external commands. Commands are argv, spawned without a shell: a template
// sh`docker commit ${flags} ${name}` follows zx's rules (an interpolated value is one argument, an
// array is several, nothing is ever spliced into a command string) without zx's cost: zx goes
// through bash for every command (3-5 ms each here) and takes 25-30 ms to load, which was half of
// what `commit` added over the raw docker commands (issue 12).
import { spawn } from 'node:child_process'
import { constants } from 'node:fs'
import { access } from 'node:fs/promises'
import { constants as osConstants } from 'node:os'
import { delimiter, join } from 'node:path'
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

/**
 * Run a command; on failure throw a ToolError that names it. `sh(options)` gives the same with
 * options: sh({ input })`docker build -`.
 */
export function sh(options: ShOptions): Template
export function sh(pieces: TemplateStringsArray, ...args: unknown[]): Promise<CommandResult>
export function sh(first: ShOptions | TemplateStringsArray, ...args: unknown[]): Template | Promise<CommandResult> {
  if (!Array.isArray(first)) return (pieces, ...rest) => run(argvOf(pieces, rest), first as ShOptions)
  return run(argvOf(first as TemplateStringsArray, args), {})
}

/**
 * The argv a template stands for: its text split on whitespace, each value one argument (an array
 * several). A value written against text (`--name=${name}`) joins that word, as it would in a shell.
 */
export function argvOf(pieces: readonly string[], values: readonly unknown[]): string[] {
  const argv: string[] = []
  let glued = false // whether the next text or value continues the last argument
  pieces.forEach((piece, index) => {
    const words = piece.split(/\s+/)
    words.forEach((word, position) => {
      if (position > 0) glued = false
      if (word === '') return
      if (glued) argv[argv.length - 1] += word
      else argv.push(word)
      glued = true
    })
    if (index >= values.length) return
    const value = values[index]
    const parts = (Array.isArray(value) ? value : [value]).map(String)
    if (glued && parts.length > 0) argv[argv.length - 1] += parts.shift()!
    argv.push(...parts)
    glued = true
  })
  return argv
}

/** Run argv as it is (no shell); stdout and stderr are collected, stdin is `input` or nothing. */
export function run(argv: readonly string[], options: ShOptions = {}): Promise<CommandResult> {
  const [command, ...args] = argv
  const line = commandLine(argv)
  if (verbose) process.stderr.write(`$ ${line}\n`)
  return new Promise((resolve, reject) => {
    const child = spawn(command!, args, {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
    })
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout.push(chunk)
      if (verbose) process.stderr.write(chunk)
    })
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr.push(chunk)
      if (verbose) process.stderr.write(chunk)
    })
    if (options.input !== undefined) {
      child.stdin!.on('error', () => {}) // a command that exits without reading it: its exit code says what happened
      child.stdin!.end(options.input)
    }
    child.on('error', (error: NodeJS.ErrnoException) => {
      // Worded as a shell would, so the user gets the same "not on PATH" hint as before.
      if (error.code === 'ENOENT') reject(new ToolError(line, 127, `${command}: command not found`))
      else reject(new ToolError(line, null, error.message))
    })
    child.on('close', (code, signal) => {
      const result = { stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), exitCode: code ?? 128 + (signal ? osConstants.signals[signal] : 0) }
      if (result.exitCode !== 0 && !options.nothrow) reject(new ToolError(line, result.exitCode, result.stderr))
      else resolve(result)
    })
  })
}

/** argv as a line a user could paste into a shell. */
export function commandLine(argv: readonly string[]): string {
  return argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`)).join(' ')
}

/** Whether a command is on PATH (looked up here, without spawning a shell). */
export async function isOnPath(command: string): Promise<boolean> {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean)
  const found = await Promise.all(dirs.map((dir) => access(join(dir, command), constants.X_OK).then(() => true, () => false)))
  return found.includes(true)
}
