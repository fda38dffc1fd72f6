// Benchmark: commit and resume of a bottle with a big diff (1 GiB of incompressible data by
// default) through the bundled tasks vs the raw docker commands, on the same bottle, in one run,
// alternating order, medians of ≥ 3 runs, `node -e 0` measured in the same rounds.
//   commit   vs `docker exec C sync && docker commit --pause=false C`      target: task ≤ 1.03 × raw
//   resume   vs `docker run -dit` of the same snapshot (remove between rounds)
//   fork --count 10 vs ten `docker run -dit` of the same snapshot side by side   target: ≤ 1.3 × raw
// Run: npm run bench   (BENCH_MIB=64 for a quick try; BENCH_RUNS=5 for more rounds). Prints a table.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { benchmark, compare, cpuMedian, docker, envMiB, envRuns, median, PLAIN_IMAGE, ratio, run, secs, spread, table, verdict, type Sample } from './harness.ts'

const MIB = envMiB('BENCH_MIB', 1024)
const RUNS = envRuns(3, 3)

await benchmark(async (ws) => {
  const slug = ws.slug('big')
  const container = await ws.runBottle(slug, PLAIN_IMAGE, ['--interactive', '--tty'])
  process.stderr.write(`writing ${MIB} MiB of random data into the bottle…\n`)
  await docker('exec', container, 'sh', '-c', `head -c ${MIB}M /dev/urandom > /root/diff.bin && sync`)
  const rawTag = `bench-raw-${slug}:latest`
  const commit = await compare(
    {
      task: { timed: ws.taskTimed('commit', slug) },
      raw: {
        timed: ws.rawTimed(['docker', 'exec', container, 'sync'], ['docker', 'commit', '--pause=false', container, rawTag]),
        // Each raw snapshot goes (the task's stay tagged in its history until the end).
        after: () => docker('image', 'rm', '--force', rawTag),
      },
      node: { timed: ws.nodeTimed() },
    },
    RUNS,
    { label: `commit ${MIB} MiB` },
  )

  const snapshot = `bot-bottle-committed-${slug}:latest`
  const removeBottle = () => docker('rm', '--force', container)
  const resume = await compare(
    {
      task: { before: removeBottle, timed: ws.taskTimed('resume', slug) },
      raw: { before: removeBottle, timed: ws.rawTimed(['docker', 'run', '--detach', '--interactive', '--tty', '--name', container, snapshot]) },
      node: { timed: ws.nodeTimed() },
    },
    RUNS,
    { label: `resume ${MIB} MiB` },
  )

  // Best-of-N: ten bottles from the snapshot side by side, against ten `docker run -dit` of it in parallel.
  const FORKS = 10
  const prefix = `${slug}f`
  const forks = Array.from({ length: FORKS }, (_, i) => ws.adopt(`${prefix}-${i + 1}`))
  const rawForks = Array.from({ length: FORKS }, (_, i) => ws.track('container', `bench-raw-${slug}-fork${i + 1}`))
  const quiet = (...args: string[]) => run(['docker', ...args], { nothrow: true })
  const removeForks = async () => {
    await quiet('rm', '--force', '--volumes', ...forks.map((fork) => `bot-bottle-${fork}`))
    await quiet('image', 'rm', ...forks.flatMap((fork) => [`bot-bottle-committed-${fork}:latest`, `bot-bottle-committed-${fork}:1`]))
    for (const fork of forks) rmSync(join(ws.home, 'state', fork), { recursive: true, force: true })
  }
  const parallelRuns = async (): Promise<Sample> => {
    const started = performance.now()
    await Promise.all(rawForks.map((name) => run(['docker', 'run', '--detach', '--interactive', '--tty', '--name', name, snapshot], { env: ws.env })))
    return { ms: performance.now() - started }
  }
  const forkMany = await compare(
    {
      task: { timed: ws.taskTimed('fork', slug, '--count', String(FORKS), '--as', prefix, '--json'), after: removeForks },
      raw: { timed: parallelRuns, after: () => quiet('rm', '--force', ...rawForks) },
      node: { timed: ws.nodeTimed() },
    },
    RUNS,
    { label: `fork --count ${FORKS}` },
  )

  const rows = [
    { what: 'commit', raw: '`docker exec C sync && docker commit --pause=false C`', times: commit, target: 1.03 },
    { what: 'resume', raw: '`docker run -dit` of the snapshot', times: resume, target: undefined },
    { what: `fork --count ${FORKS}`, raw: `${FORKS} × \`docker run -dit\` of the snapshot, side by side`, times: forkMany, target: 1.3 },
  ].map(({ what, raw, times, target }) => {
    const [task, rawMs, node] = [median(times.task), median(times.raw), median(times.node)]
    return [
      `${what}, ${MIB} MiB diff`,
      `${raw}: ${spread(times.raw, 's')}`,
      spread(times.task, 's'),
      spread(times.node, 'ms'),
      `**${ratio(task, rawMs)}**`,
      secs(task - rawMs - node),
      target ? `task ≤ ${target}× raw ${verdict(task / rawMs, target)}` : '-',
      `${secs(cpuMedian(times.task))} / ${secs(cpuMedian(times.raw))}`,
    ]
  })
  return [
    `### Commit, resume and fork of a ${MIB} MiB diff (medians of ${RUNS} runs, alternating order)`,
    '',
    table(['operation', 'raw (median, min–max)', 'bundled task', '`node -e 0`', 'task / raw', 'own cost = task − raw − node', 'target', 'CPU: task / raw'], rows),
    '',
    'CPU = user + system time of the process and every process it waited for (docker CLIs; not the engine daemon, which does the copying).',
    'Random (incompressible) data. The task also reads how the bottle runs (inspect), records the snapshot, its history tag and the run configuration; resume also re-creates what the bottle ran with and re-initialises /tmp.',
  ].join('\n')
})
