// What every benchmark shares: a private copy of the bundled tasks, a throwaway state root, timing
// of a task and the raw commands side by side in one run (alternating order, repeated, medians),
// `node -e 0` measured in the same run, counts of engine calls, peak RSS, the markdown tables, and
// the removal of everything a benchmark made (containers, images with all their tags, networks,
// volumes, state dirs), also on Ctrl-C.
import { spawn } from 'node:child_process'
import { chmodSync, copyFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { connect, createServer, type Socket } from 'node:net'
import { availableParallelism, homedir, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

export const ROOT = resolve(import.meta.dirname, '..')
export const PLAIN_IMAGE = process.env.BENCH_IMAGE || 'debian:bookworm-slim'
/** Has the user `node` (confined bottles run as it, as bot-bottle's do). */
export const AGENT_IMAGE = process.env.BENCH_AGENT_IMAGE || 'bottle-tasks/agent:bookworm'
/** Every container, network, volume and image a benchmark makes carries this label (value: the run id). */
export const BENCH_LABEL = 'bottle-tasks.bench'
const STATE_ROOT_LABEL = 'bot-bottle.state-root'

/** A size in MiB from the environment (a quick try: BENCH_MIB=64 npm run bench:transfer). */
export function envMiB(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a whole number of MiB, got ${raw}`)
  return value
}

/** Repetitions: BENCH_RUNS overrides every benchmark's default (never below `minimum`). */
export function envRuns(fallback: number, minimum: number): number {
  const raw = process.env.BENCH_RUNS
  const value = raw ? Number(raw) : fallback
  if (!Number.isInteger(value) || value < 1) throw new Error(`BENCH_RUNS must be a positive whole number, got ${raw}`)
  if (value < minimum) process.stderr.write(`note: BENCH_RUNS=${value} is below the ${minimum} runs this comparison is meant to take the median of\n`)
  return value
}

// --- running commands ----------------------------------------------------------------------------

export interface RunOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Fed to stdin. */
  input?: string
  /** stdout goes to this file instead of being collected. */
  stdoutFile?: string
  /** A non-zero exit is returned, not thrown. */
  nothrow?: boolean
  /** Also measure the CPU time (user + system) of the command and every process it waited for. */
  cpu?: boolean
}

export interface RunResult {
  code: number
  stdout: string
  stderr: string
  ms: number
  /** With `cpu`: user + system CPU time of the command and its descendants (10 ms resolution). */
  cpuMs?: number
}

const GNU_TIME = '/usr/bin/time'
const canTimeCpu = existsSync(GNU_TIME)
let cpuFiles = 0

/** Run argv (no shell), timed from spawn to exit. A failure throws with the command's stderr. */
export function run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  // GNU time reports the rusage of everything the command waited for (docker CLIs, zstd, shells the benchmark runs).
  const cpuFile = options.cpu && canTimeCpu ? join(tmpdir(), `bottle-tasks-bench-cpu-${process.pid}-${cpuFiles++}`) : undefined
  const command = cpuFile ? [GNU_TIME, '-f', '%U %S', '-o', cpuFile, ...argv] : argv
  return new Promise((resolvePromise, reject) => {
    const started = process.hrtime.bigint()
    const out = options.stdoutFile ? createWriteStream(options.stdoutFile) : undefined
    const child = spawn(command[0]!, command.slice(1), { env: options.env ?? process.env, cwd: options.cwd ?? ROOT, stdio: [options.input === undefined ? 'ignore' : 'pipe', out ? 'pipe' : 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    if (out) child.stdout!.pipe(out)
    else child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)))
    if (options.input !== undefined) child.stdin!.end(options.input)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      const finish = () => {
        const exit = code ?? (signal ? 128 : 1)
        let cpuMs: number | undefined
        if (cpuFile) {
          const [user = NaN, system = NaN] = (existsSync(cpuFile) ? readFileSync(cpuFile, 'utf8') : '').trim().split('\n').at(-1)!.split(' ').map(Number)
          rmSync(cpuFile, { force: true })
          cpuMs = (user + system) * 1000
        }
        if (exit !== 0 && !options.nothrow) reject(new Error(`${argv.join(' ')} exited ${exit}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`))
        else resolvePromise({ code: exit, stdout, stderr, ms, ...(cpuMs === undefined ? {} : { cpuMs }) })
      }
      if (out) out.end(finish)
      else finish()
    })
  })
}

/** `docker ARGS…` (untimed set-up); returns stdout trimmed. */
export async function docker(...args: string[]): Promise<string> {
  return (await run(['docker', ...args])).stdout.trim()
}

/** Run through `sh -c` (raw pipelines and redirections); the shell's start-up is a millisecond. */
export const shell = (script: string): string[] => ['sh', '-c', script]

// --- statistics and tables -------------------------------------------------------------------------

export const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export const ms = (x: number): string => `${Math.round(x)} ms`
export const secs = (x: number): string => `${(x / 1000).toFixed(2)} s`
export const mib = (bytes: number): string => `${(bytes / 1024 ** 2).toFixed(1)} MiB`
export const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`
/** The median CPU time of a side's runs (NaN when not measured). */
export const cpuMedian = (samples: Samples): number => median(samples.cpu)

/** "median (min–max)" in ms or s. */
export function spread(xs: number[], unit: 'ms' | 's' = 'ms'): string {
  const format = unit === 'ms' ? (x: number) => Math.round(x).toString() : (x: number) => (x / 1000).toFixed(2)
  return `${unit === 'ms' ? ms(median(xs)) : secs(median(xs))} (${format(Math.min(...xs))}–${format(Math.max(...xs))})`
}
/** ✅ / ❌ against a target (lower is better). */
export const verdict = (value: number, target: number): string => (value <= target ? '✅' : '❌')

/** A markdown table; a `|` inside a cell (a shell pipe) is escaped so it does not split the cell. */
export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n')
}

// --- side-by-side comparisons -----------------------------------------------------------------------

/** One timed run: wall time, and CPU time (user + system, the process and its descendants) when measured. */
export interface Sample {
  ms: number
  cpuMs?: number
}

/** A side's runs: the wall times (ms) as the array, the CPU times beside them. */
export type Samples = number[] & { cpu: number[] }

export interface Side {
  /** The timed part: its own duration (several commands in a row add up). */
  timed: () => Promise<Sample>
  /** Untimed, right before each timed run (e.g. remove the container a resume makes again). */
  before?: () => Promise<unknown>
  /** Untimed, right after each timed run. */
  after?: () => Promise<unknown>
}

/** A side that runs these commands one after the other (no shell), timed together. */
export function commands(...argvs: string[][]): (options?: RunOptions) => Promise<Sample> {
  return async (options) => {
    const total = { ms: 0, cpuMs: 0 }
    for (const argv of argvs) {
      const result = await run(argv, { cpu: true, ...options })
      total.ms += result.ms
      total.cpuMs += result.cpuMs ?? NaN
    }
    return total
  }
}

/**
 * Run every side `runs` times in one run, rotating the order each round (A B C, B C A, C A B, …) so
 * that neither page-cache warmth nor a neighbour's load favours one side; `warmup` untimed rounds
 * first. Returns each side's durations.
 */
export async function compare<K extends string>(sides: Record<K, Side>, runs: number, { warmup = 0, label = '' } = {}): Promise<Record<K, Samples>> {
  const names = Object.keys(sides) as K[]
  const times = Object.fromEntries(names.map((name) => [name, Object.assign([] as number[], { cpu: [] as number[] })])) as Record<K, Samples>
  for (let round = -warmup; round < runs; round++) {
    const shift = ((round % names.length) + names.length) % names.length
    const order = [...names.slice(shift), ...names.slice(0, shift)]
    for (const name of order) {
      const side = sides[name]
      await side.before?.()
      const took = await side.timed()
      await side.after?.()
      if (round >= 0) {
        times[name].push(took.ms)
        times[name].cpu.push(took.cpuMs ?? NaN)
      }
    }
    if (label) process.stderr.write(`  ${label}: round ${round + 1}/${runs}${round < 0 ? ' (warm-up)' : ''}\n`)
  }
  return times
}

// --- the workspace: bundled tasks, state root, engine calls, RSS ------------------------------------

export interface EngineCalls {
  /** The docker CLI processes started (their arguments). */
  cli: string[]
  /** The HTTP requests that reached the engine ("METHOD path"); undefined when the engine is not on a local socket. */
  api?: string[]
}

/** "3 CLI, 7 requests": the calls of a task, for a table cell. */
export const callCount = (calls: EngineCalls): string => `${calls.cli.length} CLI, ${calls.api?.length ?? '?'} req`

/** The engine requests other than the CLI's version handshake, shortened for a report. */
export const requestsOf = (calls: EngineCalls): string[] => (calls.api ?? []).filter((request) => !/ \/_ping$/.test(request)).map((request) => request.replace(/\?.*$/, '').replace(/^(\S+) \/v[\d.]+/, '$1 '))

/**
 * A unix socket that forwards everything to the engine's and notes each HTTP request line it
 * passes on (keep-alive connections carry several; hijacked exec/attach streams pass untouched).
 */
async function countingProxy(upstream: string, path: string): Promise<{ path: string; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = []
  const sockets = new Set<Socket>()
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const engine = connect({ path: upstream, allowHalfOpen: true })
    sockets.add(client).add(engine)
    client.on('data', (chunk: Buffer) => {
      // Request lines only: the start of a chunk or after a blank line; bodies (a tar) are not scanned past 64 KiB.
      const text = chunk.subarray(0, 65536).toString('latin1')
      for (const match of text.matchAll(/(?:^|\r\n)(GET|HEAD|POST|PUT|DELETE) (\/\S*) HTTP\/1\.[01]\r\n/g)) requests.push(`${match[1]} ${match[2]}`)
    })
    client.pipe(engine)
    engine.pipe(client)
    const drop = () => {
      client.destroy()
      engine.destroy()
    }
    client.on('error', drop)
    engine.on('error', drop)
  })
  await new Promise<void>((resolvePromise) => server.listen(path, resolvePromise))
  return {
    path,
    requests,
    close: () =>
      new Promise((resolvePromise) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolvePromise())
      }),
  }
}

const RSS_PRELOAD = `// Written by bench/harness.ts: at exit, this node process's own peak RSS (KiB) into $BENCH_RSS_FILE.
process.on('exit', () => { try { require('node:fs').writeFileSync(process.env.BENCH_RSS_FILE, String(process.resourceUsage().maxRSS)) } catch {} })
`

export interface TaskRun extends RunResult {
  /** Peak RSS of the task's node process alone (not its children), when asked for. */
  peakKiB?: number
}

export class Workspace {
  readonly runId = `${process.pid}-${Date.now().toString(36)}`
  readonly dir = mkdtempSync(join(tmpdir(), 'bottle-tasks-bench-'))
  readonly home = join(this.dir, 'home')
  readonly distDir = join(this.dir, 'dist')
  private readonly binDir = join(this.dir, 'bin')
  private readonly preload = join(this.dir, 'rss-preload.cjs')
  /** The environment of a task run (also of raw commands, so both see the same). */
  readonly env: NodeJS.ProcessEnv
  private readonly slugs = new Set<string>()
  private readonly containers = new Set<string>()
  private readonly images = new Set<string>()
  private readonly networks = new Set<string>()
  private readonly volumes = new Set<string>()
  private readonly metadata = new Map<string, object>()
  private disposing?: Promise<void>

  constructor() {
    mkdirSync(this.home, { recursive: true })
    const env: NodeJS.ProcessEnv = { ...process.env, BOT_BOTTLE_HOME: this.home, CI: 'true' }
    // Hints name the bundle, not go-task (the benchmark may run under `task`).
    delete env.BOTTLE_TASKS_VIA_TASKFILE
    delete env.NODE_OPTIONS
    this.env = env
    writeFileSync(this.preload, RSS_PRELOAD)
    const onSignal = (signal: NodeJS.Signals) => {
      process.stderr.write(`\n${signal}: removing what the benchmark made…\n`)
      void this.dispose().finally(() => process.exit(130))
    }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  }

  /**
   * `npm run build`, then a private copy of dist/: other engineers rebuilding dist/ in the same tree
   * during a long run cannot swap the code under the measurement.
   */
  async build(): Promise<void> {
    await run(['npm', 'run', '--silent', 'build'])
    mkdirSync(this.distDir, { recursive: true })
    for (const file of readdirSync(join(ROOT, 'dist')).filter((name) => name.endsWith('.mjs'))) copyFileSync(join(ROOT, 'dist', file), join(this.distDir, file))
    this.version = (await run([process.execPath, this.dist('list'), '--version'], { env: this.env })).stdout.trim().replace(/^list /, '')
    process.stderr.write(`bench: bottle-tasks ${this.version} (bundles copied to ${this.distDir})\n`)
    // The runtime floor: a bundle that does nothing but load zx and listr2, built as the tasks are.
    const { build } = await import('esbuild')
    const { bundleOptions } = (await import(join(ROOT, 'scripts', 'bundle-options.mjs'))) as { bundleOptions: object }
    await build({ ...bundleOptions, stdin: { contents: "await import('zx/core'); await import('listr2')", resolveDir: ROOT, loader: 'js' }, outfile: this.floorBundle })
  }

  /** An empty task: the runtime (zx/core and listr2) loaded the way a bundled task loads it. */
  readonly floorBundle = join(this.dir, 'runtime-floor.mjs')

  /** What the bundles say they were built from (version, commit, "modified"). */
  version = ''

  dist(task: string): string {
    return join(this.distDir, `${task}.mjs`)
  }

  /** Sizes of the bundles, largest first. */
  bundleSizes(): Array<[string, number]> {
    return readdirSync(this.distDir)
      .filter((name) => name.endsWith('.mjs'))
      .map((name): [string, number] => [name, statSync(join(this.distDir, name)).size])
      .sort((a, b) => b[1] - a[1])
  }

  /** Run a bundled task the way the Taskfile does (`node dist/<task>.mjs …`). */
  async task(name: string, args: string[] = [], options: { rss?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<TaskRun> {
    const rssFile = join(this.dir, `rss-${name}-${process.hrtime.bigint()}`)
    const env = { ...this.env, ...options.env, ...(options.rss ? { NODE_OPTIONS: `--require ${this.preload}`, BENCH_RSS_FILE: rssFile } : {}) }
    const result: TaskRun = await run([process.execPath, this.dist(name), ...args], { env, cpu: true })
    if (options.rss) {
      result.peakKiB = Number(readFileSync(rssFile, 'utf8'))
      rmSync(rssFile, { force: true })
    }
    return result
  }

  /** A Side's timed part: the bundled task. */
  taskTimed(name: string, ...args: string[]): () => Promise<Sample> {
    return () => this.task(name, args)
  }

  /** A Side's timed part: raw commands in a row, in the same environment. */
  rawTimed(...argvs: string[][]): () => Promise<Sample> {
    const sequence = commands(...argvs)
    return () => sequence({ env: this.env })
  }

  /** `node -e 0`: the start-up every bundled task pays before any of its own code runs. */
  nodeTimed(): () => Promise<Sample> {
    return () => run([process.execPath, '-e', '0'], { env: this.env, cpu: true })
  }

  /** The runtime floor: node loading zx/core and listr2 as a bundled task does, and nothing else. */
  floorTimed(): () => Promise<Sample> {
    return () => run([process.execPath, this.floorBundle], { env: this.env, cpu: true })
  }

  /**
   * Run argv (a task) once and count its engine calls two ways: the docker CLI processes it starts
   * (a logging `docker` first on PATH) and the HTTP requests that reach the engine (a counting proxy
   * of the engine's unix socket, named in DOCKER_HOST: the CLI's requests and those a task makes to
   * the Engine API itself alike; each CLI process makes a `/_ping` first).
   */
  async engineCalls(argv: string[]): Promise<EngineCalls> {
    if (!existsSync(this.binDir)) {
      mkdirSync(this.binDir)
      const real = (await run(['sh', '-c', 'command -v docker'])).stdout.trim()
      writeFileSync(join(this.binDir, 'docker'), `#!/bin/sh\nprintf '%s\\n' "$*" >> "$BENCH_DOCKER_LOG"\nexec ${real} "$@"\n`)
      chmodSync(join(this.binDir, 'docker'), 0o755)
    }
    const log = join(this.dir, `docker-calls-${process.hrtime.bigint()}.log`)
    writeFileSync(log, '')
    const upstream = engineSocket()
    const proxy = upstream ? await countingProxy(upstream, join(this.dir, `engine-${process.hrtime.bigint()}.sock`)) : undefined
    try {
      await run(argv, { env: { ...this.env, PATH: `${this.binDir}:${process.env.PATH}`, BENCH_DOCKER_LOG: log, ...(proxy ? { DOCKER_HOST: `unix://${proxy.path}` } : {}) } })
    } finally {
      await proxy?.close()
    }
    const cli = readFileSync(log, 'utf8').split('\n').filter(Boolean)
    rmSync(log)
    return { cli, ...(proxy ? { api: proxy.requests } : {}) }
  }

  /** engineCalls of several commands in a row (a raw side), added up. */
  async engineCallsOf(...argvs: string[][]): Promise<EngineCalls> {
    const all: EngineCalls = { cli: [], api: [] }
    for (const argv of argvs) {
      const calls = await this.engineCalls(argv)
      all.cli.push(...calls.cli)
      if (calls.api && all.api) all.api.push(...calls.api)
      else delete all.api
    }
    return all
  }

  // --- what the benchmark makes, tracked for removal -------------------------------------------------

  /** A new slug (agent-xxxxx), tracked: its container, all tags of its images and its state go at the end. */
  slug(agent = 'bench'): string {
    let slug: string
    do slug = `${agent}-${Math.random().toString(36).slice(2, 7).padEnd(5, '0')}`
    while (this.slugs.has(slug))
    this.slugs.add(slug)
    return slug
  }

  /** A slug something else made (a task's `start`, an import `--as`): tracked like `slug()`'s. */
  adopt(slug: string): string {
    this.slugs.add(slug)
    return slug
  }

  track(kind: 'container' | 'image' | 'network' | 'volume', name: string): string {
    ;({ container: this.containers, image: this.images, network: this.networks, volume: this.volumes })[kind].add(name)
    return name
  }

  labels(): Record<string, string> {
    return { [BENCH_LABEL]: this.runId }
  }

  /**
   * What the toolkit's `start` puts on a bottle's container (who it is, and that it belongs to this
   * state root: other engineers' `list` and `cleanup` in their own roots leave it alone), plus ours.
   */
  bottleLabels(slug: string, metadata: object = this.metadata.get(slug) ?? {}): Record<string, string> {
    return { 'bot-bottle.slug': slug, 'bot-bottle.backend': 'docker', 'bot-bottle.metadata': JSON.stringify(metadata), [STATE_ROOT_LABEL]: this.home, ...this.labels() }
  }

  /** A state dir the way bot-bottle writes one. */
  writeState(slug: string, extra: Record<string, string> = {}): object {
    const metadata = { identity: slug, agent_name: slug.split('-')[0], cwd: '/work', copy_cwd: false, started_at: new Date().toISOString(), compose_project: '', backend: 'docker' }
    const dir = join(this.home, 'state', slug)
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'metadata.json'), `${JSON.stringify(metadata)}\n`)
    for (const [file, content] of Object.entries(extra)) writeFileSync(join(dir, file), content)
    this.metadata.set(slug, metadata)
    return metadata
  }

  /** A bottle made the bot-bottle way: a state dir, and `docker run -d` of its container with `flags`. */
  async runBottle(slug: string, image: string, flags: string[], command: string[] = []): Promise<string> {
    const metadata = this.writeState(slug)
    const name = `bot-bottle-${slug}`
    await docker('run', '--detach', '--name', name, ...labelFlags(this.bottleLabels(slug, metadata)), ...flags, image, ...command)
    return name
  }

  /** Remove everything this run made. Safe to call twice (the second call waits for the first); never fails. */
  dispose(): Promise<void> {
    this.disposing ??= this.removeAll()
    return this.disposing
  }

  private async removeAll(): Promise<void> {
    const quiet = (...args: string[]) => run(['docker', ...args], { nothrow: true })
    const byLabel = `label=${BENCH_LABEL}=${this.runId}`
    const labelled = (await quiet('ps', '-aq', '--filter', byLabel)).stdout.split('\n').filter(Boolean)
    const names = [...[...this.slugs].map((slug) => `bot-bottle-${slug}`), ...this.containers, ...labelled]
    for (let i = 0; i < names.length; i += 200) await quiet('rm', '--force', '--volumes', ...names.slice(i, i + 200))
    // Every tag of the bottles' images (the numbered history too), images made by label, and the rest.
    const repositories = new Set([...this.slugs].flatMap((slug) => [`bot-bottle-committed-${slug}`, `bot-bottle-rebuilt-${slug}`, `bench-raw-${slug}`]))
    const listed = (await quiet('image', 'ls', '--format', '{{.Repository}}:{{.Tag}}')).stdout.split('\n').filter((ref) => repositories.has(ref.split(':')[0]!))
    const labelledImages = (await quiet('image', 'ls', '-q', '--filter', byLabel)).stdout.split('\n').filter(Boolean)
    const images = [...new Set([...listed, ...this.images, ...labelledImages])]
    for (let i = 0; i < images.length; i += 200) await quiet('image', 'rm', '--force', ...images.slice(i, i + 200))
    for (const network of this.networks) await quiet('network', 'rm', network)
    const labelledNetworks = (await quiet('network', 'ls', '-q', '--filter', byLabel)).stdout.split('\n').filter(Boolean)
    if (labelledNetworks.length) await quiet('network', 'rm', ...labelledNetworks)
    for (const volume of this.volumes) await quiet('volume', 'rm', '--force', volume)
    rmSync(this.dir, { recursive: true, force: true })
  }
}

export const labelFlags = (labels: Record<string, string>): string[] => Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`])

/** Run `main`, then remove what it made whatever happens; print the report only when it succeeded. */
export async function benchmark(main: (ws: Workspace) => Promise<string>): Promise<void> {
  const ws = new Workspace()
  let report: string | undefined
  let engineVersion = '?'
  try {
    await ws.build()
    engineVersion = await docker('version', '--format', '{{.Server.Version}}')
    report = await main(ws)
  } finally {
    process.stderr.write('bench: removing what it made…\n')
    await ws.dispose()
  }
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  process.stdout.write(`${report}\n\n_bottle-tasks ${ws.version}; node ${process.version}; docker ${engineVersion}; load average at the end ${load} (${availableParallelism()} cores)._\n`)
}

// --- the engine API, for fast bulk set-up ----------------------------------------------------------

/** The engine's unix socket, as the CLI picks it (DOCKER_HOST, else the default context), or undefined for other hosts. */
function engineSocket(): string | undefined {
  const host = process.env.DOCKER_HOST
  if (host) return host.startsWith('unix://') ? host.slice('unix://'.length) : undefined
  if (process.env.DOCKER_CONTEXT && process.env.DOCKER_CONTEXT !== 'default') return undefined
  try {
    const config = JSON.parse(readFileSync(join(process.env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json'), 'utf8')) as { currentContext?: string }
    if (config.currentContext && config.currentContext !== 'default') return undefined
  } catch {
    // no config: the default context
  }
  return existsSync('/var/run/docker.sock') ? '/var/run/docker.sock' : undefined
}

/** One Engine API call over the unix socket (set-up only: the tasks are measured through the CLI). */
function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  const socketPath = engineSocket()!
  return new Promise((resolvePromise, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = request({ socketPath, method, path, headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {} }, (res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => (text += chunk.toString()))
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: text }))
    })
    req.on('error', reject)
    req.end(payload)
  })
}

/** Run `work` over `items`, `concurrency` at a time. */
export async function inParallel<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!)
    }),
  )
}

/** `docker create` (never started) many containers fast: the Engine API when the socket is at hand, else the CLI. */
export async function createContainers(specs: Array<{ name: string; image: string; labels: Record<string, string>; command: string[] }>, concurrency = 8): Promise<void> {
  const viaApi = engineSocket() !== undefined
  await inParallel(specs, concurrency, async (spec) => {
    if (viaApi) {
      const response = await api('POST', `/containers/create?name=${encodeURIComponent(spec.name)}`, { Image: spec.image, Cmd: spec.command, Labels: spec.labels })
      if (response.status !== 201) throw new Error(`create ${spec.name}: ${response.status} ${response.body}`)
    } else {
      await docker('create', '--name', spec.name, ...labelFlags(spec.labels), spec.image, ...spec.command)
    }
  })
}

/** `docker tag` many times fast (the Engine API when at hand). */
export async function tagImages(source: string, targets: string[], concurrency = 8): Promise<void> {
  const viaApi = engineSocket() !== undefined
  await inParallel(targets, concurrency, async (target) => {
    if (viaApi) {
      const colon = target.lastIndexOf(':')
      const response = await api('POST', `/images/${encodeURIComponent(source)}/tag?repo=${encodeURIComponent(target.slice(0, colon))}&tag=${encodeURIComponent(target.slice(colon + 1))}`)
      if (response.status !== 201) throw new Error(`tag ${target}: ${response.status} ${response.body}`)
    } else {
      await docker('tag', source, target)
    }
  })
}

/** Remove many containers (not running) carrying a label, in one engine call. */
export async function pruneContainers(label: string): Promise<void> {
  if (engineSocket() !== undefined) await api('POST', `/containers/prune?filters=${encodeURIComponent(JSON.stringify({ label: [label] }))}`)
  else await run(['docker', 'container', 'prune', '--force', '--filter', `label=${label}`], { nothrow: true })
}
