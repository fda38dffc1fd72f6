// lib/pipeline.ts on real commands: stages joined by pipes (execa), what the first writes counted,
// nothing held in memory, every stage stopped when one fails, the failing one named.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Transform, Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { errorText, ToolError, UsageError } from '../../lib/errors.ts'
import { runPipeline, runPipelineThrough, type Argv } from '../../lib/pipeline.ts'

const sh = (script: string): Argv => ['sh', '-c', script]

/** A sink that only counts. */
function counting() {
  const sink = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        sink.bytes += chunk.length
        done()
      },
    }),
    { bytes: 0 },
  )
  return sink
}

describe('runPipeline', () => {
  it('joins the stages, counts what the first writes, and collects the last one’s output', async () => {
    const reports: Array<[number, boolean]> = []
    const out = await runPipeline([sh('head -c 300000 /dev/zero'), ['wc', '-c']], { countFirst: (bytes, final) => reports.push([bytes, final]) })
    expect(out.trim()).toBe('300000')
    expect(reports.at(-1)).toEqual([300000, true])
  })

  it('holds no stage’s output: 256 MiB through two stages hardly move this process’s memory', async () => {
    const before = process.memoryUsage().rss
    const sink = counting()
    await runPipeline([sh('head -c 268435456 /dev/zero'), ['cat']], { output: sink, countFirst: () => {} })
    expect(sink.bytes).toBe(268435456)
    expect(process.memoryUsage().rss - before).toBeLessThan(64 << 20)
  })

  it('stops every stage when one fails, and names the one that failed with its stderr', async () => {
    // A first stage that no closed pipe would end: without the stop, this waits for it.
    const failure = await runPipeline([['sleep', '1000'], sh('echo "disk full" >&2; exit 3'), ['cat']]).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(ToolError)
    expect(failure).toMatchObject({ exitCode: 3, command: `sh -c echo "disk full" >&2; exit 3` })
    expect(errorText(failure)).toBe('sh: disk full')
    // One that lost its reader (a broken pipe) is not the one named.
    await expect(runPipeline([['yes'], sh('head -c 10 >/dev/null; exit 4'), ['cat']])).rejects.toMatchObject({ exitCode: 4 })
  })

  it('throws a transform’s own failure, not the ends of the stages it stopped', async () => {
    const refusing = new Transform({ transform: (_chunk, _encoding, done) => done(new UsageError('not an archive')) })
    await expect(runPipeline([['yes'], ['cat']], { transforms: [refusing], output: counting() })).rejects.toThrow(UsageError)
  })

  it('accepts an exit a stage may give, by name', async () => {
    const tarLike = sh('echo partial; exit 1')
    await expect(runPipeline([tarLike], { acceptExit: (argv, code) => argv === tarLike && code === 1 })).resolves.toBe('partial\n')
    await expect(runPipeline([tarLike])).rejects.toMatchObject({ exitCode: 1 })
  })

  it('gives a stage killed by a signal 128 + its number, and a missing one 127 with the not-on-PATH hint', async () => {
    await expect(runPipeline([sh('kill -HUP $$')])).rejects.toMatchObject({ exitCode: 129 })
    await expect(runPipeline([['cat'], sh('kill -KILL $$')], { input: Readable.from(['x']) })).rejects.toMatchObject({ exitCode: 137 })
    const missing = await runPipeline([['bottle-tasks-no-such-tool']]).catch((error: unknown) => error)
    expect(missing).toMatchObject({ exitCode: 127 })
    expect(errorText(missing)).toBe('"bottle-tasks-no-such-tool" is not on PATH: install it (see README prerequisites) or fix PATH')
  })
})

describe('runPipelineThrough', () => {
  /** A last stage that, like docker load, acts only once its input has ended: it leaves a marker then. */
  function loader() {
    const dir = mkdtempSync(join(tmpdir(), 'through-'))
    const marker = join(dir, 'saw-the-end')
    return { argv: sh(`wc -c; touch '${marker}'`), sawTheEnd: () => existsSync(marker), remove: () => rmSync(dir, { recursive: true, force: true }) }
  }
  const upper = () => new Transform({ transform: (chunk: Buffer, _encoding, done) => done(null, Buffer.from(chunk.toString().toUpperCase())) })
  /** Passes `bytes` bytes, then fails as a check of the stream would. */
  const refusingAfter = (bytes: number) => {
    let seen = 0
    return new Transform({
      transform(chunk: Buffer, _encoding, done) {
        seen += chunk.length
        done(seen > bytes ? new UsageError('refused midway') : null, chunk)
      },
    })
  }

  it('runs the first commands, the transforms, then the last commands, with or without commands before', async () => {
    const load = loader()
    try {
      expect((await runPipelineThrough([['cat']], [upper()], [sh('cat; echo')], Readable.from(['abc']))).trim()).toBe('ABC')
      expect((await runPipelineThrough([], [upper()], [load.argv], Readable.from([Buffer.alloc(70000, 97)]))).trim()).toBe('70000')
      expect(load.sawTheEnd()).toBe(true)
    } finally {
      load.remove()
    }
  })

  it('stops the last command before its input ends when a transform or a command before it fails: it never sees an end', async () => {
    for (const [before, transform, expected] of [
      [[['cat']], refusingAfter(100000), UsageError],
      [[], refusingAfter(100000), UsageError],
      [[sh('head -c 300000 /dev/zero; exit 3')], upper(), ToolError],
    ] as const) {
      const load = loader()
      try {
        const failure = await runPipelineThrough([...before] as Argv[], [transform], [load.argv], Readable.from([Buffer.alloc(300000)])).catch((error: unknown) => error)
        expect(failure).toBeInstanceOf(expected)
        if (failure instanceof ToolError) expect(failure.exitCode).toBe(3)
        expect(load.sawTheEnd()).toBe(false)
      } finally {
        load.remove()
      }
    }
  })

  it('throws the last command’s own failure, and stops the commands before it', async () => {
    // `yes` never ends by itself: without the stop, this waits forever.
    const failure = await runPipelineThrough([['yes']], [upper()], [sh('head -c 10 >/dev/null; echo "no space left" >&2; exit 5')], Readable.from([])).catch((error: unknown) => error)
    expect(failure).toMatchObject({ exitCode: 5 })
    expect(errorText(failure)).toBe('sh: no space left')
  })
})
