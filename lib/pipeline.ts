// Stream data through external commands and Node transforms without ever holding it in memory:
// `docker save … | zstd …` → hash and count → a file, or a file → `zstd -d` → `docker load`.
// The commands run on execa, which pipes one into the next as a shell would (`buffer: false`: no
// stage's output is kept). What a pipeline here adds: every stage is stopped once one fails, the
// failure names the stage that failed with the end of its stderr, and an exit a stage may give
// (tar's 1: files changed while read) is accepted by name. zx is not for this: it keeps every byte
// of a piped command in memory. execa is loaded by the tasks that stream, when they do.
import { createHash } from 'node:crypto'
import { constants as osConstants } from 'node:os'
import { PassThrough, Transform, Writable, type Duplex, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Result, ResultPromise } from 'execa'
import { registerCleanup } from './cleanup.ts'
import { ToolError } from './errors.ts'

export type Argv = [string, ...string[]]

export interface PipelineOptions {
  /** Fed to the first command's stdin (or, without commands, straight to `output`). */
  input?: Readable
  /** Node transforms between the last command's stdout and `output`. */
  transforms?: Duplex[]
  /** Receives the last command's stdout; without it, stdout is collected (small outputs only). */
  output?: Writable
  /** Exit codes that are not failures, per command (e.g. tar's 1: "files changed while read"). */
  acceptExit?: (argv: Argv, code: number) => boolean
  /** Counts what the first command writes (before any compression), for progress. */
  countFirst?: (bytes: number, final: boolean) => void
  /** Stops every command (SIGTERM) when aborted. */
  cancelSignal?: AbortSignal
}

const STDERR_KEPT = 8192

// Loaded once, by the first stream (pipelines may start side by side).
let execaModule: Promise<typeof import('execa')> | undefined
const loadExeca = () => (execaModule ??= import('execa'))

/** Run `commands` connected by pipes; resolves with the last command's stdout when no `output` is given. */
export async function runPipeline(commands: Argv[], options: PipelineOptions = {}): Promise<string> {
  if (commands.length === 0) {
    if (options.input && options.output) await pipeline([options.input, ...(options.transforms ?? []), options.output])
    return ''
  }
  const { execa } = await loadExeca()
  const stderrs = commands.map(() => '')
  const stages: ResultPromise[] = []
  const stopAll = () => stages.forEach((stage) => stage.kill('SIGTERM'))
  const release = registerCleanup(stopAll)
  try {
    for (const [index, [file, ...args]] of commands.entries()) {
      const first = index === 0
      const stage = execa(file, args, {
        buffer: false,
        reject: false,
        stderr: 'pipe',
        ...(options.cancelSignal ? { cancelSignal: options.cancelSignal } : {}),
        ...(first ? (options.input ? { input: options.input } : { stdin: 'ignore' }) : {}),
        ...(first && options.countFirst ? { stdout: counter(options.countFirst) } : {}),
      })
      stage.stderr!.on('data', (chunk: Buffer) => {
        stderrs[index] = (stderrs[index] + chunk.toString()).slice(-STDERR_KEPT)
      })
      // Bash's way: the previous stage's stdout is this one's stdin. (Each stage's own result says
      // how it ended; the pipe's is not needed.)
      if (!first) stages[index - 1]!.pipe(stage).catch(() => {})
      stages.push(stage)
    }
    let collected = ''
    const last = stages.at(-1)!
    const sink = options.output ?? collector((text) => (collected += text))
    let stopped = false
    const output = pipeline([last.stdout!, ...(options.transforms ?? []), sink]).catch((error: unknown) => {
      // A transform's refusal (or a full disk) stops the stages: their ends are its aftermath.
      stopped = true
      stopAll()
      throw error
    })
    const exits = stages.map((stage, index) =>
      stage.then((result) => {
        const code = exitCodeOf(result)
        const ok = code === 0 || Boolean(options.acceptExit?.(commands[index]!, code))
        if (!ok && !stopped) {
          stopped = true
          stopAll()
        }
        return { code, ok, aftermath: stopped && code === 128 + osConstants.signals.SIGTERM }
      }),
    )
    const [ended, streamed] = await Promise.all([Promise.all(exits), output.then(() => undefined, (error: unknown) => error)])
    const failures = ended.map((end, index) => ({ ...end, index, stderr: stderrs[index]! })).filter((end) => !end.ok)
    // The stage to name: the first that failed of its own accord, not one that lost the stage it
    // wrote to (a broken pipe) or was stopped because another failed. None: the stream's failure.
    const failed = failures.find((end) => !end.aftermath && !brokenPipe(end.code, end.stderr)) ?? (streamed ? undefined : failures[0])
    if (failed) {
      const { index, code, stderr } = failed
      throw new ToolError(commands[index]!.join(' '), code, code === 127 && !stderr ? `${commands[index]![0]}: command not found` : stderr)
    }
    if (streamed) throw streamed
    return collected
  } catch (error) {
    stopAll()
    throw error
  } finally {
    release()
  }
}

/**
 * `before | transforms | after`: Node transforms between two commands (zstd -d → a check of the
 * archive → docker load). `after` sees the end of its input only once everything before it has
 * succeeded; when something before fails, `after` is stopped first and its input never ends: a
 * tar cut short at a member boundary reads as a whole one (docker load would load it). The
 * failure that came first is the one thrown.
 */
export async function runPipelineThrough(before: Argv[], transforms: Duplex[], after: Argv[], input: Readable): Promise<string> {
  const middle = new PassThrough({ highWaterMark: 1 << 20 })
  // Feeds `middle` without ever ending it: that is decided below, once `before` has settled.
  const feed = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _encoding, done) {
      if (middle.write(chunk)) done()
      else middle.once('drain', () => done())
    },
  })
  const cancel = new AbortController()
  let afterFailed: { error: unknown } | undefined
  const afterRun = runPipeline(after, { input: middle, cancelSignal: cancel.signal })
  // `after` ending on its own (a failure: it cannot succeed before its input ends) stops `before`.
  const stopFeeding = (error: Error) => void (feed.writableFinished || feed.destroy(error))
  const afterSettled = afterRun.then(
    () => stopFeeding(new Error(`${after[0]!.join(' ')} ended before its input did`)),
    (error: unknown) => {
      afterFailed ??= { error }
      stopFeeding(error as Error)
    },
  )
  try {
    await runPipeline(before, { input, transforms, output: feed })
  } catch (error) {
    if (!afterFailed) {
      cancel.abort()
      await afterSettled
      middle.destroy()
      throw error
    }
    throw afterFailed.error
  }
  middle.end()
  return afterRun
}

/** What a stage says when the stage it wrote to went away (pipes between stages are sockets here). */
function brokenPipe(code: number, stderr: string): boolean {
  return code === 128 + osConstants.signals.SIGPIPE || /broken pipe|connection reset|EPIPE/i.test(stderr)
}

/** As a shell reports it: 128 + the signal's number for a stage killed by one, 127 for one not found. */
function exitCodeOf(result: Result): number {
  if (result.exitCode !== undefined) return result.exitCode
  if (result.signal) return 128 + osConstants.signals[result.signal]
  return 127
}

/** An execa transform of a stage's stdout that counts what passes, as `meter` does. */
function counter(onProgress: (bytes: number, final: boolean) => void) {
  const counted = meter(onProgress, { hash: false })
  return {
    // binary: chunks as the command wrote them (Uint8Array), not lines.
    *transform(chunk: unknown) {
      counted.add(chunk as Uint8Array)
      yield chunk
    },
    *final() {
      counted.end()
    },
    binary: true,
  }
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
  /** Counts (and hashes) a chunk that passes some other way than through `transform`. */
  add: (chunk: Uint8Array) => void
  /** Says the end, as `transform` does when it is flushed. */
  end: () => void
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
    add: (chunk) => {
      hash?.update(chunk)
      state.bytes += chunk.length
      const now = Date.now()
      if (onProgress && now - lastReport >= intervalMs) {
        lastReport = now
        onProgress(state.bytes, false)
      }
    },
    end: () => onProgress?.(state.bytes, true),
    transform: new Transform({
      highWaterMark: 4 << 20,
      transform(chunk: Buffer, _encoding, done) {
        state.add(chunk)
        done(null, chunk)
      },
      flush(done) {
        state.end()
        done()
      },
    }),
  }
  return state
}
