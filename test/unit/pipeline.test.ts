// lib/pipeline.ts on real commands: stages joined by pipes (execa), what the first writes counted,
// nothing held in memory, every stage stopped when one fails, the failing one named.
import { Readable, Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { errorText, ToolError } from '../../lib/errors.ts'
import { runPipeline, type Argv } from '../../lib/pipeline.ts'

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
