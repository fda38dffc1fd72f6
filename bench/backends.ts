// Benchmark: the exec-tar → image step of a macos-container commit against the raw commands it
// wraps (`container exec … tar > file` + `container build` FROM scratch), on the same ~1 GiB bottle,
// in one run, alternating order, medians, `node -e 0` in the same rounds. Uses the `container`
// emulator in test/emulators (the real CLI is macOS-only), so both sides pay the same emulation cost.
// Run: npm run bench:backends   (BENCH_MIB=64 for a quick try; BENCH_RUNS=5 for more rounds).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { benchmark, compare, cpuMedian, envMiB, envRuns, median, PLAIN_IMAGE, ratio, ROOT, run, secs, shell, spread, table } from './harness.ts'

const MIB = envMiB('BENCH_MIB', 1024)
const RUNS = envRuns(3, 3)

await benchmark(async (ws) => {
  Object.assign(ws.env, { PATH: `${join(ROOT, 'test', 'emulators')}:${process.env.PATH}`, DOCKER_BUILDKIT: '0' })
  const container = (...args: string[]) => run(['container', ...args], { env: ws.env })
  const slug = ws.adopt((await ws.task('start', ['--agent', 'bench', '--image', PLAIN_IMAGE, '--backend', 'macos-container'])).stdout.trim())
  const name = `bot-bottle-${slug}`
  const rawTag = ws.track('image', `bench-raw-${slug}:latest`)
  try {
    await container('exec', '--user', 'root', name, 'sh', '-c', `head -c ${MIB}M /dev/urandom > /root/diff.bin && sync`)
    const context = join(ws.dir, 'raw')
    mkdirSync(context, { recursive: true })
    writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nADD rootfs.tar /\n')
    const tar = `container exec --user root ${name} tar --create --exclude=./proc --exclude=./sys --exclude=./dev --exclude=./run --file=- --directory=/ . > ${join(context, 'rootfs.tar')}`
    const times = await compare(
      {
        raw: {
          timed: ws.rawTimed(shell(tar), ['container', 'build', '--tag', rawTag, '--file', join(context, 'Dockerfile'), context]),
          after: async () => rmSync(join(context, 'rootfs.tar'), { force: true }),
        },
        task: { timed: ws.taskTimed('commit', slug) },
        node: { timed: ws.nodeTimed() },
      },
      RUNS,
      { label: `macos-container commit ${MIB} MiB` },
    )
    const [task, raw, node] = [median(times.task), median(times.raw), median(times.node)]
    return [
      `### macos-container commit (emulated), ${MIB} MiB written (medians of ${RUNS} runs, alternating order)`,
      '',
      table(
        ['step', 'raw `exec tar > file` + `build`', 'commit task', '`node -e 0`', 'task / raw', 'own cost = task − raw − node', 'CPU: task / raw'],
        [['exec-tar → image', spread(times.raw, 's'), spread(times.task, 's'), spread(times.node), `**${ratio(task, raw)}**`, secs(task - raw - node), `${secs(cpuMedian(times.task))} / ${secs(cpuMedian(times.raw))}`]],
      ),
      '',
      'The task also reads the image settings, syncs, and writes the state. CPU = user + system time of the process and every process it waited for (the emulator, docker CLIs, tar; not the engine daemon).',
    ].join('\n')
  } finally {
    await container('delete', '--force', name).catch(() => {})
  }
})
