// Benchmark: how the bundled tasks scale with the number of bottles and snapshots, and proof that
// the number of engine calls they make does not grow with it.
//   10, 200, 1,000 bottles (containers created, never started, labelled as the toolkit labels its
//   own, plus state dirs; half of them committed): `list` and `cleanup --dry-run`   target ≤ 1 s
//   one bottle with 200 snapshots (tags + snapshots.json entries): `list SLUG` and
//   `prune --keep 1` (the tags come back before every prune)                        target ≤ 1 s
// Each is timed next to `node -e 0` and the raw engine listing, alternating order, medians; the
// docker CLI calls of one run of each are counted with a logging `docker` first on PATH.
// Run: npm run bench:scale   (BENCH_SCALE=10,200 for a quick try; BENCH_RUNS=9 for more rounds).
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BENCH_LABEL, benchmark, callCount, compare, cpuMedian, createContainers, docker, envRuns, median, ms, PLAIN_IMAGE, pruneContainers, run, spread, table, tagImages, verdict, type Workspace } from './harness.ts'

const SCALES = (process.env.BENCH_SCALE || '10,200,1000').split(',').map(Number)
const SNAPSHOTS = Number(process.env.BENCH_SNAPSHOTS || 200)
const RUNS = envRuns(5, 3)
const TARGET_MS = 1000

await benchmark(async (ws) => {
  const bottles = await manyBottles(ws)
  const history = await manySnapshots(ws)
  return [bottles, '', history].join('\n')
})

async function manyBottles(ws: Workspace): Promise<string> {
  const rows: string[][] = []
  const setups: string[] = []
  let made = 0
  for (const scale of SCALES) {
    const started = Date.now()
    const specs = []
    for (; made < scale; made++) {
      const slug = ws.slug('scale')
      // Half of them committed (a snapshot recorded, preserved), as a long-lived host has.
      const committed = made % 2 === 0
      const metadata = ws.writeState(slug, committed ? { 'committed-image': `bot-bottle-committed-${slug}:latest\n`, preserve: 'preserved by the benchmark\n' } : {})
      specs.push({ name: `bot-bottle-${slug}`, image: PLAIN_IMAGE, labels: ws.bottleLabels(slug, metadata), command: ['sleep', 'infinity'] })
    }
    await createContainers(specs)
    setups.push(`${specs.length} more in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    const times = await compare(
      {
        list: { timed: ws.taskTimed('list') },
        cleanup: { timed: ws.taskTimed('cleanup', '--dry-run') },
        ps: { timed: ws.rawTimed(['docker', 'ps', '-a', '--no-trunc', '--filter', 'name=^bot-bottle-']) },
        node: { timed: ws.nodeTimed() },
      },
      RUNS,
      { warmup: 1, label: `${scale} bottles` },
    )
    const listCalls = await ws.engineCalls([process.execPath, ws.dist('list')])
    const cleanupCalls = await ws.engineCalls([process.execPath, ws.dist('cleanup'), '--dry-run'])
    const listed = (await ws.task('list', ['--json'])).stdout
    const ours = (JSON.parse(listed) as Array<{ slug: string }>).filter((row) => row.slug.startsWith('scale-')).length
    if (ours !== scale) throw new Error(`list shows ${ours} of the ${scale} bottles`)
    const node = median(times.node)
    rows.push([
      String(scale),
      `${spread(times.list)}; CPU ${ms(cpuMedian(times.list))}`,
      `${ms(median(times.list) - node)} ${verdict(median(times.list), TARGET_MS)}`,
      callCount(listCalls),
      `${spread(times.cleanup)}; CPU ${ms(cpuMedian(times.cleanup))}`,
      `${ms(median(times.cleanup) - node)} ${verdict(median(times.cleanup), TARGET_MS)}`,
      callCount(cleanupCalls),
      spread(times.ps),
      `${spread(times.node)}; CPU ${ms(cpuMedian(times.node))}`,
    ])
  }
  // The containers go at once (one engine call), before the history part.
  await pruneContainers(`${BENCH_LABEL}=${ws.runId}`)
  return [
    `### Many bottles (medians of ${RUNS} runs, alternating order, 1 warm-up round; target ≤ ${TARGET_MS} ms)`,
    '',
    table(['bottles', '`list`', 'list − node', 'engine calls', '`cleanup --dry-run`', 'cleanup − node', 'engine calls', 'raw `docker ps -a --filter name=^bot-bottle-`', '`node -e 0`'], rows),
    '',
    `Set-up (containers created through the Engine API, 8 at a time; never started): ${setups.join(', ')}. Half of the bottles are committed (committed-image + preserve).`,
    'Engine calls: docker CLI processes started, and HTTP requests that reached the engine (each CLI process also sends `/_ping`). The other engineers\' containers on this engine are listed too: the engine is shared.',
  ].join('\n')
}

async function manySnapshots(ws: Workspace): Promise<string> {
  const slug = ws.slug('hist')
  const repository = `bot-bottle-committed-${slug}`
  // One small image of our own (so removing tags never touches a shared image), tagged N + 1 times.
  const source = await docker('create', '--label', `${BENCH_LABEL}=${ws.runId}`, PLAIN_IMAGE, 'true')
  ws.track('container', source)
  await docker('commit', '--change', `LABEL ${BENCH_LABEL}=${ws.runId}`, source, `${repository}:latest`)
  const entries = Array.from({ length: SNAPSHOTS }, (_, i) => ({ n: i + 1, ref: `${repository}:${i + 1}`, createdAt: new Date(Date.now() - (SNAPSHOTS - i) * 60_000).toISOString(), sizeBytes: 74_000_000 + i, message: `snapshot ${i + 1}` }))
  ws.writeState(slug, { 'committed-image': `${repository}:latest\n`, preserve: 'preserved by the benchmark\n' })
  const restore = async () => {
    await tagImages(`${repository}:latest`, entries.map((entry) => entry.ref))
    writeFileSync(join(ws.home, 'state', slug, 'snapshots.json'), `${JSON.stringify({ snapshots: entries }, null, 2)}\n`)
  }
  await restore()
  const started = Date.now()
  await restore()
  const restoreMs = Date.now() - started

  const pruned = entries.slice(0, -1).map((entry) => entry.ref)
  const times = await compare(
    {
      list: { timed: ws.taskTimed('list', slug) },
      prune: { before: restore, timed: ws.taskTimed('prune', slug, '--keep', '1') },
      rawRm: { before: restore, timed: ws.rawTimed(['docker', 'image', 'rm', ...pruned]) },
      node: { timed: ws.nodeTimed() },
    },
    RUNS,
    { warmup: 1, label: `${SNAPSHOTS} snapshots` },
  )
  await restore()
  const listCalls = await ws.engineCalls([process.execPath, ws.dist('list'), slug])
  const pruneCalls = await ws.engineCalls([process.execPath, ws.dist('prune'), slug, '--keep', '1'])
  const left = (await run(['docker', 'image', 'ls', '--format', '{{.Tag}}', repository])).stdout.split('\n').filter(Boolean).sort()
  if (left.join(',') !== `${SNAPSHOTS},latest`) throw new Error(`prune left ${left.join(', ')}`)
  const node = median(times.node)
  return [
    `### One bottle with ${SNAPSHOTS} snapshots (medians of ${RUNS} runs, alternating order; target ≤ ${TARGET_MS} ms)`,
    '',
    table(
      ['what', 'wall (median, min–max)', 'minus `node -e 0`', 'target', 'engine calls (CLI processes, HTTP requests)'],
      [
        [`\`list SLUG\` (${SNAPSHOTS} entries)`, `${spread(times.list)}; CPU ${ms(cpuMedian(times.list))}`, ms(median(times.list) - node), `≤ ${TARGET_MS} ms ${verdict(median(times.list), TARGET_MS)}`, callCount(listCalls)],
        [`\`prune --keep 1\` (removes ${pruned.length} tags)`, `${spread(times.prune)}; CPU ${ms(cpuMedian(times.prune))}`, ms(median(times.prune) - node), `≤ ${TARGET_MS} ms ${verdict(median(times.prune), TARGET_MS)}`, `${callCount(pruneCalls)}: ${pruneCalls.cli.map((call) => `\`docker ${call.split(' ').slice(0, 3).join(' ')}…\``).join(', ')}`],
        [`raw \`docker image rm\` of the same ${pruned.length} tags`, `${spread(times.rawRm)}; CPU ${ms(cpuMedian(times.rawRm))}`, '-', '-', '1 CLI'],
        ['`node -e 0`', `${spread(times.node)}; CPU ${ms(cpuMedian(times.node))}`, '-', '-', '0'],
      ],
    ),
    '',
    `The ${pruned.length} tags and snapshots.json come back before every prune (untimed, ${restoreMs} ms through the Engine API).`,
  ].join('\n')
}
