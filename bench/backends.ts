// Benchmark: the exec-tar → image step of a macos-container commit against the raw commands it
// wraps (`container exec … tar > file` + `container build` FROM scratch), on the same ~1 GiB bottle,
// in one run. Uses the `container` emulator in test/emulators (the real CLI is macOS-only), so both
// sides pay the same emulation cost. Prints a table; not a test.
// Run: npm run bench:backends [-- --size 1024 --runs 2]   (MiB written into the bottle)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { execa } from 'execa'

const { values } = parseArgs({ options: { size: { type: 'string', default: '1024' }, runs: { type: 'string', default: '2' }, image: { type: 'string', default: 'debian:bookworm-slim' } } })
const ROOT = resolve(import.meta.dirname, '..')
const work = mkdtempSync(join(tmpdir(), 'bottle-tasks-bench-'))
const env = { ...process.env, BOT_BOTTLE_HOME: join(work, 'home'), CI: 'true', PATH: `${join(ROOT, 'test', 'emulators')}:${process.env.PATH}`, DOCKER_BUILDKIT: '0' }
await execa('npm', ['run', '--silent', 'build'], { cwd: ROOT })

async function timed(command: string, args: string[]): Promise<number> {
  const started = process.hrtime.bigint()
  await execa(command, args, { env })
  return Number(process.hrtime.bigint() - started) / 1e6
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const slug = (await execa(process.execPath, [join(ROOT, 'dist', 'start.mjs'), '--agent', 'bench', '--image', values.image!, '--backend', 'macos-container'], { env })).stdout.trim()
const name = `bot-bottle-${slug}`
const rawTag = `bench-raw-${slug}:latest`
const raw: number[] = []
const task: number[] = []
try {
  await execa('container', ['exec', '--user', 'root', name, 'sh', '-c', `head -c ${values.size}M /dev/urandom > /root/diff.bin && sync`], { env })
  const context = join(work, 'raw')
  await execa('mkdir', ['-p', context])
  writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nADD rootfs.tar /\n')
  const tarCommand = `container exec --user root ${name} tar --create --exclude=./proc --exclude=./sys --exclude=./dev --exclude=./run --file=- --directory=/ . > ${join(context, 'rootfs.tar')}`
  for (let i = 0; i < Number(values.runs); i++) {
    const pair = [
      async () => {
        raw.push((await timed('sh', ['-c', tarCommand])) + (await timed('container', ['build', '--tag', rawTag, '--file', join(context, 'Dockerfile'), context])))
        rmSync(join(context, 'rootfs.tar'))
      },
      async () => task.push(await timed(process.execPath, [join(ROOT, 'dist', 'commit.mjs'), slug])),
    ]
    if (i % 2) pair.reverse()
    for (const side of pair) await side()
  }
} finally {
  await execa('container', ['delete', '--force', name], { env, reject: false })
  await execa('docker', ['image', 'rm', '-f', rawTag, `bot-bottle-committed-${slug}:latest`], { reject: false })
  rmSync(work, { recursive: true, force: true })
}

console.log('| step | bottle | raw exec tar > file + build | commit task | task / raw |')
console.log('|---|---|---|---|---|')
console.log(`| exec-tar → image (macos-container) | ${values.size} MiB written | ${(median(raw) / 1000).toFixed(2)} s | ${(median(task) / 1000).toFixed(2)} s | ${(median(task) / median(raw)).toFixed(2)}× |`)
console.log(`\nMedians of ${values.runs} runs, alternating order. The task also reads the image settings, syncs, and writes the state.`)
