// Benchmark: a history that costs what changed. Ten commits of a running bottle with a 500 MiB diff
// (50 files of incompressible data), 1 MiB rewritten between commits, through the bundled commit
// task; the engine's storage (du of its data root: layers, content store, snapshots) read before
// and after each. Side by side, in the same rounds and alternating order, the raw commit of the
// same bottle: `docker exec C sync && docker commit --pause=false C` (its image removed at once).
//   storage: the nine commits after the first together grow the engine by ≤ 20 MiB
//   wall:    a task commit ≤ 1.3 × the raw commit (medians of commits 2-10)
// And `diff` between two snapshots of it that differ by 1 MiB (target ≤ 2 s).
// Run as root (du of the data root): npm run bench:history; DOCKER_HOST=… for another engine;
// BENCH_MIB for another diff size. Storage is read once it has settled (see engineBytes).
import { benchmark, docker, envMiB, median, mib, PLAIN_IMAGE, ratio, run, secs, table, verdict } from './harness.ts'

const MIB = envMiB('BENCH_MIB', 500)
const COMMITS = 10

/**
 * Bytes under the engine's data root (its own file system only), once settled: the containerd
 * image store removes what a build left (its containers' snapshots) by garbage collection a
 * moment after the build returns, so the reading is taken again every 0.5 s until two agree.
 */
async function engineBytes(root: string): Promise<number> {
  const read = async () => {
    await run(['sync'])
    return Number((await run(['du', '-sxb', root])).stdout.split('\t')[0])
  }
  let last = await read()
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 500))
    const now = await read()
    if (now === last) return now
    last = now
  }
  return last
}

await benchmark(async (ws) => {
  const root = await docker('info', '--format', '{{.DockerRootDir}}')
  const slug = ws.slug('hist')
  const container = await ws.runBottle(slug, PLAIN_IMAGE, ['--interactive', '--tty'])
  process.stderr.write(`writing ${MIB} MiB of random data into the bottle…\n`)
  await docker('exec', container, 'sh', '-c', `mkdir -p /root/work && for i in $(seq 1 50); do head -c ${Math.ceil(MIB / 50)}M /dev/urandom > /root/work/f$i; done; sync`)
  const rawTag = `bench-raw-${slug}:latest`
  ws.track('image', rawTag)

  const rows: Array<{ n: number; grew: number; task: number; raw: number }> = []
  for (let n = 1; n <= COMMITS; n++) {
    if (n > 1) await docker('exec', container, 'sh', '-c', `head -c 1M /dev/urandom > /root/work/f${n}; sync`)
    const timeTask = async () => {
      const before = await engineBytes(root)
      const result = await ws.task('commit', [slug])
      if (result.code !== 0) throw new Error(`commit failed: ${result.stderr}`)
      return { ms: result.ms, grew: (await engineBytes(root)) - before }
    }
    const timeRaw = async () => {
      const exec = await run(['docker', 'exec', container, 'sync'], { env: ws.env })
      const commit = await run(['docker', 'commit', '--pause=false', container, rawTag], { env: ws.env })
      await docker('image', 'rm', '--force', rawTag)
      return exec.ms + commit.ms
    }
    // Alternating which goes first.
    let task: { ms: number; grew: number }
    let raw: number
    if (n % 2 === 0) {
      raw = await timeRaw()
      task = await timeTask()
    } else {
      task = await timeTask()
      raw = await timeRaw()
    }
    rows.push({ n, grew: task.grew, task: task.ms, raw })
    process.stderr.write(`commit ${n}: task ${secs(task.ms)} (engine +${mib(task.grew)}), raw ${secs(raw)}\n`)
  }

  const later = rows.slice(1)
  const grewLater = later.reduce((sum, row) => sum + row.grew, 0)
  const taskMedian = median(later.map((row) => row.task))
  const rawMedian = median(later.map((row) => row.raw))

  // diff between the last two snapshots (1 MiB apart), three times.
  const diffs: number[] = []
  for (let i = 0; i < 3; i++) diffs.push((await ws.task('diff', [slug, String(COMMITS - 1), String(COMMITS)])).ms)
  const diffMedian = median(diffs)

  const engine = await docker('version', '--format', '{{.Server.Version}}')
  return [
    `### History of a bottle with a ${MIB} MiB diff, ${COMMITS} commits, 1 MiB changed between them (engine ${engine})`,
    '',
    table(
      ['commit', 'engine storage grew', 'task', 'raw (exec sync + docker commit)'],
      rows.map((row) => [String(row.n), mib(row.grew), secs(row.task), secs(row.raw)]),
    ),
    '',
    table(
      ['measure', 'value', 'target', ''],
      [
        ['storage of commits 2-10 together', mib(grewLater), '≤ 20 MiB', verdict(grewLater, 20 * 2 ** 20)],
        ['commit wall, median of 2-10: task / raw', `${secs(taskMedian)} / ${secs(rawMedian)} = ${ratio(taskMedian, rawMedian)}`, '≤ 1.3×', verdict(taskMedian / rawMedian, 1.3)],
        ['diff of two snapshots 1 MiB apart (median of 3)', secs(diffMedian), '≤ 2 s', verdict(diffMedian, 2000)],
      ],
    ),
  ].join('\n')
})
