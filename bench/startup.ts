// Benchmark: the fixed start-up cost of a bundled task over the raw command it wraps, in one run:
// `node dist/commit.mjs` vs `docker commit` on a tiny diff, `node dist/list.mjs` vs `docker ps`.
// Run: npm run bench:startup [-- --runs 15]. Prints a table; not a test.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { execa } from 'execa'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' }, image: { type: 'string', default: 'debian:bookworm-slim' } } })
const ROOT = resolve(import.meta.dirname, '..')
const home = mkdtempSync(join(tmpdir(), 'bottle-tasks-bench-'))
const env = { ...process.env, BOT_BOTTLE_HOME: home, CI: 'true' }
await execa('npm', ['run', '--silent', 'build'], { cwd: ROOT })
const dist = (task: string) => join(ROOT, 'dist', `${task}.mjs`)

async function timed(command: string, args: string[]): Promise<number> {
  const started = process.hrtime.bigint()
  await execa(command, args, { env })
  return Number(process.hrtime.bigint() - started) / 1e6
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const slug = (await execa(process.execPath, [dist('start'), '--agent', 'bench', '--image', values.image!], { env })).stdout.trim()
const container = `bot-bottle-${slug}`
const rows: Array<[string, string, number, number]> = []
try {
  await execa('docker', ['exec', container, 'sh', '-c', 'echo tiny > /root/tiny.txt'])
  const pairs: Array<[string, string, () => Promise<number>, () => Promise<number>]> = [
    ['commit (tiny diff)', 'docker commit', () => timed('docker', ['commit', container, `bench-raw-${slug}:latest`]), () => timed(process.execPath, [dist('commit'), slug])],
    // What commit must do at least: the known trap says sync right before capturing.
    ['commit (tiny diff)', 'docker exec sync + docker commit', () => timed('sh', ['-c', `docker exec ${container} sync && docker commit ${container} bench-raw-${slug}:latest`]), () => timed(process.execPath, [dist('commit'), slug])],
    ['list', 'docker ps', () => timed('docker', ['ps', '-a']), () => timed(process.execPath, [dist('list')])],
    ['--help (no engine call)', 'node -e 0', () => timed(process.execPath, ['-e', '0']), () => timed(process.execPath, [dist('commit'), '--help'])],
  ]
  for (const [name, rawName, raw, task] of pairs) {
    const raws: number[] = []
    const tasks: number[] = []
    for (let i = 0; i < Number(values.runs); i++) {
      if (i % 2) {
        tasks.push(await task())
        raws.push(await raw())
      } else {
        raws.push(await raw())
        tasks.push(await task())
      }
    }
    rows.push([`${name} vs ${rawName}`, rawName, median(raws), median(tasks)])
  }
} finally {
  await execa('docker', ['rm', '-f', container], { reject: false })
  await execa('docker', ['image', 'rm', '-f', `bench-raw-${slug}:latest`], { reject: false })
  const tags = (await execa('docker', ['image', 'ls', '-q', `bot-bottle-committed-${slug}`])).stdout.split('\n').filter(Boolean)
  if (tags.length) await execa('docker', ['image', 'rm', '-f', ...new Set(tags)], { reject: false })
  rmSync(home, { recursive: true, force: true })
}

console.log('| task vs raw | raw | bundled task | overhead |')
console.log('|---|---|---|---|')
for (const [name, , raw, task] of rows) console.log(`| ${name} | ${raw.toFixed(0)} ms | ${task.toFixed(0)} ms | ${(task - raw).toFixed(0)} ms |`)
console.log(`\nMedians of ${values.runs} runs, alternating order. commit also runs \`sync\` in the bottle first (a known trap) and records the history.`)
