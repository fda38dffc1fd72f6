// Benchmark: the start-up and own cost of the bundled tasks against the raw commands they wrap, in
// one run, alternating order, medians of ≥ 9 runs, the floors measured in the same rounds:
//   commit (tiny diff)      vs `docker exec C sync` + `docker commit --pause=false C`
//   resume (confined)       vs `docker run -d` with the same flags (internal network, --cap-drop ALL,
//                              no-new-privileges, --memory, --pids-limit, --hostname, a named
//                              volume, a tmpfs), bundled and through tsx
//   list                    vs `docker ps -a`
//   --help                  vs `node -e 0`
// OWN COST = task − raw − floor: what the toolkit adds beyond the engine's work and the runtime it
// runs on. The floor of a task is Node plus the runtime it loads: `node -e 0`, and for the tasks that
// run commands and show steps (commit, resume), an empty bundle that loads zx/core and listr2 as a
// task does (issue 22: the runtime is the user's choice, the targets sit on top of it).
// Each row also counts the engine calls of one run (docker CLI processes, HTTP requests to the engine).
// Run: npm run bench:startup   (BENCH_RUNS=15 for more rounds). Prints tables; not a test.
import { AGENT_IMAGE, benchmark, callCount, compare, cpuMedian, docker, envRuns, labelFlags, median, ms, PLAIN_IMAGE, requestsOf, spread, table, verdict, type EngineCalls, type Samples, type Side, type Workspace } from './harness.ts'

const RUNS = envRuns(11, 9)

interface Comparison {
  name: string
  raw?: string
  times: { task: Samples; raw?: Samples; node: Samples; floor?: Samples }
  /** Own-cost target (task − raw − floor), ms; the floor is the runtime's where measured, else `node -e 0`. */
  target?: number
  /** Overhead target (task − raw), ms. */
  overheadTarget?: number
  calls: { task: EngineCalls; raw?: EngineCalls }
}

const RAW_RESUME = '`docker run -d` + the same flags'

await benchmark(async (ws) => {
  const comparisons: Comparison[] = []

  // A tiny bottle, started the way `start` starts one (a terminal keeps its shell alive).
  const tiny = ws.slug('tiny')
  const tinyContainer = await ws.runBottle(tiny, PLAIN_IMAGE, ['--interactive', '--tty'])
  await docker('exec', tinyContainer, 'sh', '-c', 'echo tiny > /root/tiny.txt')
  const rawTag = `bench-raw-${tiny}:latest`
  // --pause=false as the task's commit does: like for like (the bottle keeps working).
  const rawCommit = [
    ['docker', 'exec', tinyContainer, 'sync'],
    ['docker', 'commit', '--pause=false', tinyContainer, rawTag],
  ]
  const dropRawTag = () => docker('image', 'rm', '--force', rawTag)
  process.stderr.write('commit (tiny diff)…\n')
  comparisons.push(
    await pair(ws, 'commit, tiny diff', '`docker exec C sync && docker commit C`', 60, {
      runtime: true,
      task: { timed: ws.taskTimed('commit', tiny) },
      raw: { timed: ws.rawTimed(...rawCommit), after: dropRawTag },
      taskCalls: () => ws.engineCalls([process.execPath, ws.dist('commit'), tiny]),
      rawCalls: () => ws.engineCallsOf(...rawCommit).finally(dropRawTag),
    }),
  )

  // A confined bottle, made the bot-bottle way, committed once so resume knows how it ran.
  const confined = ws.slug('conf')
  const network = ws.track('network', `bench-int-${confined}`)
  const volume = ws.track('volume', `bench-ws-${confined}`)
  await docker('network', 'create', '--internal', ...labelFlags(ws.labels()), network)
  await docker('volume', 'create', ...labelFlags(ws.labels()), volume)
  const confinement = ['--network', network, '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--memory', '512m', '--pids-limit', '200', '--hostname', 'agentbox', '--volume', `${volume}:/workspace`, '--tmpfs', '/scratch:size=16m', '--user', 'node']
  const confinedContainer = await ws.runBottle(confined, AGENT_IMAGE, confinement, ['sleep', 'infinity'])
  await ws.task('commit', [confined])
  const snapshot = `bot-bottle-committed-${confined}:latest`
  const removeBottle = () => docker('rm', '--force', confinedContainer)
  // The same flags and labels resume gives it; the snapshot's own command (sleep infinity).
  const rawRun = ['docker', 'run', '--detach', '--name', confinedContainer, ...labelFlags(ws.bottleLabels(confined)), ...confinement, snapshot]
  process.stderr.write('resume (confined bottle), bundled and through tsx…\n')
  const resumeTimes = await compare(
    {
      task: { before: removeBottle, timed: ws.taskTimed('resume', confined) },
      raw: { before: removeBottle, timed: ws.rawTimed(rawRun) },
      npxTsx: { before: removeBottle, timed: ws.rawTimed(['npx', 'tsx', 'tasks/resume.ts', confined]) },
      nodeImportTsx: { before: removeBottle, timed: ws.rawTimed([process.execPath, '--import', 'tsx', 'tasks/resume.ts', confined]) },
      node: { timed: ws.nodeTimed() },
      floor: { timed: ws.floorTimed() },
    },
    RUNS,
    { warmup: 1, label: 'resume' },
  )
  await removeBottle()
  const resumeCalls = await ws.engineCalls([process.execPath, ws.dist('resume'), confined])
  await removeBottle()
  const rawResumeCalls = await ws.engineCalls(rawRun)
  await removeBottle()
  const calls = { task: resumeCalls, raw: rawResumeCalls }
  const resumeOf = (task: Samples) => ({ task, raw: resumeTimes.raw, node: resumeTimes.node, floor: resumeTimes.floor })
  comparisons.push({ name: 'resume, confined bottle (bundled)', raw: RAW_RESUME, times: resumeOf(resumeTimes.task), target: 80, overheadTarget: 150, calls })
  comparisons.push({ name: 'resume, confined bottle (`npx tsx tasks/resume.ts`)', raw: RAW_RESUME, times: resumeOf(resumeTimes.npxTsx), overheadTarget: 300, calls })
  comparisons.push({ name: 'resume, confined bottle (`node --import tsx tasks/resume.ts`)', raw: RAW_RESUME, times: resumeOf(resumeTimes.nodeImportTsx), overheadTarget: 300, calls })

  process.stderr.write('list…\n')
  comparisons.push(
    await pair(ws, 'list', '`docker ps -a`', 30, {
      task: { timed: ws.taskTimed('list') },
      raw: { timed: ws.rawTimed(['docker', 'ps', '-a']) },
      taskCalls: () => ws.engineCalls([process.execPath, ws.dist('list')]),
      rawCalls: () => ws.engineCalls(['docker', 'ps', '-a']),
    }),
  )

  process.stderr.write('--help…\n')
  const help = await compare({ task: { timed: ws.taskTimed('commit', '--help') }, node: { timed: ws.nodeTimed() } }, RUNS, { warmup: 1, label: '--help' })
  comparisons.push({ name: '`commit --help` (no engine call)', times: help, target: 25, calls: { task: await ws.engineCalls([process.execPath, ws.dist('commit'), '--help']) } })

  return report(ws, comparisons, { commit: comparisons[0]!.calls.task, resume: resumeCalls })
})

async function pair(
  ws: Workspace,
  name: string,
  raw: string,
  target: number,
  spec: { task: Side; raw: Side; taskCalls: () => Promise<EngineCalls>; rawCalls: () => Promise<EngineCalls>; runtime?: boolean },
): Promise<Comparison> {
  const sides: Record<string, Side> = { task: spec.task, raw: spec.raw, node: { timed: ws.nodeTimed() } }
  if (spec.runtime) sides.floor = { timed: ws.floorTimed() }
  const measured = await compare(sides, RUNS, { warmup: 1, label: name })
  const times = { task: measured.task!, raw: measured.raw!, node: measured.node!, floor: measured.floor }
  return { name, raw, times, target, calls: { task: await spec.taskCalls(), raw: await spec.rawCalls() } }
}

function report(ws: Workspace, comparisons: Comparison[], details: { commit: EngineCalls; resume: EngineCalls }): string {
  const rows = comparisons.map((c) => {
    const task = median(c.times.task)
    const raw = c.times.raw ? median(c.times.raw) : 0
    const node = median(c.times.node)
    const floor = c.times.floor ? median(c.times.floor) : node
    const own = task - raw - floor
    const overhead = task - raw
    const cpu = { task: cpuMedian(c.times.task), raw: c.times.raw ? cpuMedian(c.times.raw) : 0, floor: cpuMedian(c.times.floor ?? c.times.node) }
    const targets = [
      c.target !== undefined ? `own ≤ ${c.target} ms ${verdict(own, c.target)}` : '',
      c.overheadTarget !== undefined ? `task − raw ≤ ${c.overheadTarget} ms ${verdict(overhead, c.overheadTarget)}` : '',
    ].filter(Boolean)
    return [
      c.name,
      c.raw ? `${c.raw}: ${spread(c.times.raw!)}` : '-',
      spread(c.times.node),
      c.times.floor ? spread(c.times.floor) : '(`node -e 0`)',
      spread(c.times.task),
      c.raw ? ms(overhead) : '-',
      `**${ms(own)}**`,
      targets.join('<br>'),
      `${ms(cpu.task)} / ${c.raw ? ms(cpu.raw) : '-'} / ${ms(cpu.floor)}`,
      ms(cpu.task - cpu.raw - cpu.floor),
      `${callCount(c.calls.task)} / ${c.calls.raw ? callCount(c.calls.raw) : '-'}`,
    ]
  })
  const sizes = ws.bundleSizes().map(([name, bytes]) => [`dist/${name}`, `${(bytes / 1024).toFixed(0)} KiB`])
  const cliList = (calls: EngineCalls) => calls.cli.map((call) => `\`docker ${call.split(' ').slice(0, 2).join(' ')}\``).join(', ')
  const requestList = (calls: EngineCalls) => requestsOf(calls).map((request) => `\`${request}\``).join(', ')
  return [
    `### Start-up and own cost (medians of ${RUNS} runs, alternating order, 1 warm-up round)`,
    '',
    table(['task', 'raw (median, min–max)', '`node -e 0`', 'runtime floor (node + zx/core + listr2)', 'bundled task', 'task − raw', 'own cost = task − raw − floor', 'target', 'CPU: task / raw / floor', 'own CPU', 'engine calls: task / raw'], rows),
    '',
    'Wall times are what the targets are about; on a loaded machine they stretch with the load. The floor of commit and resume is the runtime they load (zx runs their commands, listr2 shows their steps); list and --help load neither, their floor is `node -e 0`. CPU = user + system time of the process and every process it waited for (docker CLIs, shells; not the engine daemon), 10 ms resolution: own CPU = task − raw − floor, which the load does not stretch as much.',
    '',
    'Engine calls: docker CLI processes started, and HTTP requests that reached the engine (each CLI process also sends `/_ping`). The tsx rows run the source (tasks/resume.ts) as a developer does; their own cost includes loading tsx and transpiling.',
    '',
    `One bundled commit: ${details.commit.cli.length} CLI processes (${cliList(details.commit)}); engine requests besides pings: ${requestList(details.commit)}`,
    '',
    `One bundled resume: ${details.resume.cli.length} CLI processes (${cliList(details.resume)}); engine requests besides pings: ${requestList(details.resume)}`,
    '',
    table(['bundle', 'size'], sizes),
  ].join('\n')
}
