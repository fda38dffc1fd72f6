// Benchmark: commit and resume through the tasks vs the raw docker commands, on the same bottle, in one run.
// Run: npm run bench [-- --sizes 1,1024 --runs 5]   (sizes in MiB of the bottle's diff)
// Prints a table; not a test. Needs a Docker engine and debian:bookworm-slim.
// Tasks run the way the Taskfile runs them: `node dist/<task>.mjs` (built first by `npm run build`).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { execa } from 'execa'

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '1,1024' }, runs: { type: 'string', default: '5' }, image: { type: 'string', default: 'debian:bookworm-slim' } } })
const ROOT = resolve(import.meta.dirname, '..')
await execa('npm', ['run', '--silent', 'build'], { cwd: ROOT })
const home = mkdtempSync(join(tmpdir(), 'bottle-tasks-bench-'))
const env = { ...process.env, BOT_BOTTLE_HOME: home, CI: 'true' }

async function timed(command: string, args: string[]): Promise<number> {
  const started = process.hrtime.bigint()
  await execa(command, args, { env })
  return Number(process.hrtime.bigint() - started) / 1e6
}
const task = (name: string, ...args: string[]) => timed(process.execPath, [join(ROOT, 'dist', `${name}.mjs`), ...args])
const docker = (...args: string[]) => execa('docker', args, { env })
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

interface Row { operation: string; diff: string; raw: number; task: number }
const rows: Row[] = []

for (const mib of values.sizes!.split(',').map(Number)) {
  const runs = mib >= 512 ? 3 : Number(values.runs)
  const { stdout } = await execa(process.execPath, [join(ROOT, 'dist', 'start.mjs'), '--agent', 'bench', '--image', values.image!], { env })
  const slug = stdout.trim()
  const container = `bot-bottle-${slug}`
  try {
    // Incompressible data, so neither side gets a cheap ride.
    await docker('exec', container, 'sh', '-c', `head -c ${mib}M /dev/urandom > /root/diff.bin && sync`)
    const commitRaw: number[] = []
    const commitTask: number[] = []
    for (let i = 0; i < runs; i++) {
      // Alternate which goes first so page-cache warmth does not favour one side.
      const pair = [
        async () => commitRaw.push(await timed('docker', ['commit', container, `bench-raw-${slug}:latest`])),
        async () => commitTask.push(await task('commit', slug)),
      ]
      if (i % 2) pair.reverse()
      for (const run of pair) await run()
    }
    rows.push({ operation: 'commit', diff: `${mib} MiB`, raw: median(commitRaw), task: median(commitTask) })

    const resumeRaw: number[] = []
    const resumeTask: number[] = []
    for (let i = 0; i < runs; i++) {
      await docker('rm', '-f', container)
      resumeTask.push(await task('resume', slug))
      await docker('rm', '-f', container)
      resumeRaw.push(await timed('docker', ['run', '-dit', '--name', container, `bot-bottle-committed-${slug}:latest`]))
    }
    rows.push({ operation: 'resume', diff: `${mib} MiB`, raw: median(resumeRaw), task: median(resumeTask) })
  } finally {
    await docker('rm', '-f', container).catch(() => {})
    await docker('image', 'rm', '-f', `bench-raw-${slug}:latest`, `bot-bottle-committed-${slug}:latest`).catch(() => {})
  }
}
rmSync(home, { recursive: true, force: true })

const ms = (x: number) => `${x.toFixed(0)} ms`
console.log('| operation | diff | raw docker | task | task / raw | task − raw |')
console.log('|---|---|---|---|---|---|')
for (const row of rows) {
  console.log(`| ${row.operation} | ${row.diff} | ${ms(row.raw)} | ${ms(row.task)} | ${(row.task / row.raw).toFixed(2)}× | ${ms(row.task - row.raw)} |`)
}
console.log('\nraw commit = `docker commit`; raw resume = `docker run -dit` of the snapshot. Medians of --runs runs (3 for diffs ≥ 512 MiB), alternating which side goes first.')
