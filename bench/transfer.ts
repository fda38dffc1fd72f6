// Benchmark: export against `docker save -o` on the same bottle, incremental (--base) against full,
// and the toolkit's peak RSS during a large export. Prints a table; not a test.
// Run: npm run bench:transfer [-- --diff 1024 --base-size 1024 --inc-diff 100]   (MiB)
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { execa } from 'execa'

const { values } = parseArgs({
  options: { diff: { type: 'string', default: '1024' }, 'base-size': { type: 'string', default: '1024' }, 'inc-diff': { type: 'string', default: '100' }, image: { type: 'string', default: 'debian:bookworm-slim' } },
})
const ROOT = resolve(import.meta.dirname, '..')
const work = mkdtempSync(join(tmpdir(), 'bottle-tasks-bench-'))
const env = { ...process.env, BOT_BOTTLE_HOME: join(work, 'home'), CI: 'true' }
const docker = (...args: string[]) => execa('docker', args, { env })
const baseTag = `bottle-tasks-bench-base:${process.pid}`
const made: string[] = []

await execa('npm', ['run', '--silent', 'build'], { cwd: ROOT })

/** Run a bundled task (as the Taskfile does) and record its wall time and peak RSS. */
async function task(name: string, ...args: string[]): Promise<{ ms: number; peakMiB: number; stdout: string }> {
  const started = process.hrtime.bigint()
  const child = execa(process.execPath, [join(ROOT, 'dist', `${name}.mjs`), ...args], { env, cwd: ROOT })
  let peakKiB = 0
  const poll = setInterval(() => {
    try {
      const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
      if (hwm) peakKiB = Math.max(peakKiB, Number(hwm[1]))
    } catch {
      // exited between polls
    }
  }, 50)
  const result = await child.finally(() => clearInterval(poll))
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, peakMiB: peakKiB / 1024, stdout: result.stdout }
}
async function timed(command: string, ...args: string[]): Promise<number> {
  const started = process.hrtime.bigint()
  await execa(command, args, { env })
  return Number(process.hrtime.bigint() - started) / 1e6
}
async function committedBottle(image: string, diffMiB: number): Promise<string> {
  const slug = (await task('start', '--agent', 'bench', '--image', image)).stdout.trim()
  made.push(slug)
  await docker('exec', `bot-bottle-${slug}`, 'sh', '-c', `head -c ${diffMiB}M /dev/urandom > /root/diff.bin && sync`)
  await task('commit', slug)
  return slug
}
const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MiB`
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const rows: string[][] = []

try {
  // 1. Full export vs docker save -o, same bottle, alternating order.
  const slug = await committedBottle(values.image!, Number(values.diff))
  const snapshot = `bot-bottle-committed-${slug}:latest`
  const raw = await timed('docker', 'save', '-o', join(work, 'raw.tar'), snapshot)
  const zstd = await task('export', slug, '--output', join(work, 'full.bottle'))
  const raw2 = await timed('docker', 'save', '-o', join(work, 'raw2.tar'), snapshot)
  const none = await task('export', slug, '--output', join(work, 'none.bottle'), '--compress', 'none')
  const rawMs = (raw + raw2) / 2
  rows.push(['docker save -o', `${values.diff} MiB diff`, s(rawMs), mib(statSync(join(work, 'raw.tar')).size), '-', '-'])
  rows.push(['export (zstd)', `${values.diff} MiB diff`, s(zstd.ms), mib(statSync(join(work, 'full.bottle')).size), `${(zstd.ms / rawMs).toFixed(2)}×`, `${zstd.peakMiB.toFixed(0)} MiB`])
  rows.push(['export (none)', `${values.diff} MiB diff`, s(none.ms), mib(statSync(join(work, 'none.bottle')).size), `${(none.ms / rawMs).toFixed(2)}×`, `${none.peakMiB.toFixed(0)} MiB`])
  rmSync(join(work, 'raw.tar'))
  rmSync(join(work, 'raw2.tar'))
  rmSync(join(work, 'none.bottle'))

  // 2. Incremental vs full on a bottle with a big base and a small day of work.
  await execa('docker', ['build', '-q', '-t', baseTag, '-'], { env, input: `FROM ${values.image}\nRUN head -c ${values['base-size']}M /dev/urandom > /opt/base.bin\n` })
  const day = await committedBottle(baseTag, Number(values['inc-diff']))
  const full = await task('export', day, '--output', join(work, 'day-full.bottle'))
  const incremental = await task('export', day, '--output', join(work, 'day-inc.bottle'), '--base', baseTag)
  const fullSize = statSync(join(work, 'day-full.bottle')).size
  const incSize = statSync(join(work, 'day-inc.bottle')).size
  const label = `${values['base-size']} MiB base + ${values['inc-diff']} MiB`
  rows.push(['export full', label, s(full.ms), mib(fullSize), '-', `${full.peakMiB.toFixed(0)} MiB`])
  rows.push(['export --base', label, s(incremental.ms), mib(incSize), `${(fullSize / incSize).toFixed(1)}× smaller, ${(full.ms / incremental.ms).toFixed(2)}× faster`, `${incremental.peakMiB.toFixed(0)} MiB`])
} finally {
  for (const slug of made) await docker('rm', '-f', `bot-bottle-${slug}`).catch(() => {})
  await docker('image', 'rm', '-f', ...made.map((slug) => `bot-bottle-committed-${slug}:latest`), baseTag).catch(() => {})
  rmSync(work, { recursive: true, force: true })
}

console.log('| what | bottle | wall time | file size | vs raw | peak RSS (toolkit) |')
console.log('|---|---|---|---|---|---|')
for (const row of rows) console.log(`| ${row.join(' | ')} |`)
console.log('\nRandom (incompressible) data: compression buys nothing here, so this is the worst case for export.')
