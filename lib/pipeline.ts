// Stream data through external commands and Node transforms without ever holding it in memory:
// `docker save … | zstd …` → hash and count → a file, or a file → `zstd -d` → `docker load`.
// Not a buffered command runner: that keeps each command's output in memory, and an image does
// not fit there.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { Transform, type Readable, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { registerCleanup } from './cleanup.ts'
import { ToolError } from './errors.ts'

export type Argv = [string, ...string[]]

export interface PipelineOptions {
  /** Fed to the first command's stdin (or, without commands, straight to `output`). */
  input?: Readable
  /** Node transforms between the last command's stdout and `output`. */
  transforms?: Transform[]
  /** Receives the last command's stdout; without it, stdout is collected (small outputs only). */
  output?: Writable
  /** Exit codes that are not failures, per command (e.g. tar's 1: "files changed while read"). */
  acceptExit?: (argv: Argv, code: number) => boolean
  /** Counts what the first command writes (before any compression), for progress. */
  countFirst?: (bytes: number, final: boolean) => void
}

const STDERR_KEPT = 8192

/** Run `commands` connected by pipes; resolves with the last command's stdout when no `output` is given. */
export async function runPipeline(commands: Argv[], options: PipelineOptions = {}): Promise<string> {
  const children: ChildProcess[] = []
  const stderrs: string[] = []
  const killAll = () => children.forEach((child) => child.exitCode === null && child.kill('SIGTERM'))
  const release = registerCleanup(killAll)
  try {
    const counting = options.countFirst ? meter(options.countFirst, { hash: false }) : undefined
    const streams: Promise<unknown>[] = []
    for (const [index, argv] of commands.entries()) {
      const previous = children[index - 1]
      // Counting what the first command writes means passing it through here; otherwise the
      // commands are joined directly.
      const through = index === 1 && counting
      const stdin = previous && !through ? previous.stdout! : options.input || through ? 'pipe' : 'ignore'
      const child = spawn(argv[0], argv.slice(1), { stdio: [stdin, 'pipe', 'pipe'] })
      if (through) streams.push(pipeline(previous!.stdout!, counting.transform, child.stdin!).catch(ignoreBrokenPipe))
      // The next command now holds the pipe; our copy would keep the previous one from closing.
      else previous?.stdout!.destroy()
      children.push(child)
      stderrs.push('')
      child.stderr!.on('data', (chunk: Buffer) => {
        stderrs[index] = (stderrs[index] + chunk.toString()).slice(-STDERR_KEPT)
      })
    }
    const exits = children.map(exitOf)
    const first = children[0]
    const last = children.at(-1)
    if (options.input && first) streams.push(pipeline(options.input, first.stdin!).catch(ignoreBrokenPipe))
    let collected = ''
    if (last) {
      const sink = options.output ?? collector((text) => (collected += text))
      const alone = children.length === 1 && counting ? [counting.transform] : []
      streams.push(pipeline([last.stdout!, ...alone, ...(options.transforms ?? []), sink]))
    } else if (options.input && options.output) {
      streams.push(pipeline([options.input, ...(options.transforms ?? []), options.output]))
    }
    const [codes, streamResults] = await Promise.all([Promise.all(exits), Promise.allSettled(streams)])
    const failed = codes.findIndex((code, i) => code !== 0 && !options.acceptExit?.(commands[i]!, code))
    if (failed >= 0) throw new ToolError(commands[failed]!.join(' '), codes[failed]!, stderrs[failed]!)
    const streamFailure = streamResults.find((result) => result.status === 'rejected')
    if (streamFailure) throw (streamFailure as PromiseRejectedResult).reason
    return collected
  } catch (error) {
    killAll()
    throw error
  } finally {
    release()
  }
}

function exitOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') child.stderr?.emit('data', Buffer.from(`${child.spawnfile}: command not found`))
      resolve(127)
    })
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)))
  })
}

function ignoreBrokenPipe(error: NodeJS.ErrnoException): void {
  // The command stopped reading (it failed); its exit code tells the story.
  if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw error
}

function collector(onText: (text: string) => void): Writable {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      onText(chunk.toString())
      done()
    },
  }).resume()
}

export interface Meter {
  bytes: number
  sha256: () => string
  transform: Transform
}

/**
 * Counts what flows through, and hashes it unless told not to (sha256 costs a core about 2 s per
 * GiB: only what a manifest records or a check compares is hashed). `onProgress` hears of the
 * first chunk, then at most every `intervalMs`, and of the end (`final`), so even a short stream
 * reports its start and its end.
 */
export function meter(onProgress?: (bytes: number, final: boolean) => void, { hash: hashing = true, intervalMs = 250 } = {}): Meter {
  const hash = hashing ? createHash('sha256') : undefined
  let lastReport = 0
  const state: Meter = {
    bytes: 0,
    sha256: () => hash!.digest('hex'),
    transform: new Transform({
      highWaterMark: 4 << 20,
      transform(chunk: Buffer, _encoding, done) {
        hash?.update(chunk)
        state.bytes += chunk.length
        const now = Date.now()
        if (onProgress && now - lastReport >= intervalMs) {
          lastReport = now
          onProgress(state.bytes, false)
        }
        done(null, chunk)
      },
      flush(done) {
        onProgress?.(state.bytes, true)
        done()
      },
    }),
  }
  return state
}
