// Run the task scripts the way a user does: as subprocesses, against the real engine, in a state root of their own.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { execa } from 'execa'

export const ROOT = resolve(import.meta.dirname, '..')
export const BASE_IMAGE = process.env.BOTTLE_TASKS_TEST_IMAGE ?? 'debian:bookworm-slim'
export const TSX = join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs')

export interface TaskResult {
  exitCode: number
  stdout: string
  stderr: string
}

/** A throwaway BOT_BOTTLE_HOME plus everything the test made in the engine, removed by `dispose`. */
export class Sandbox {
  readonly home = mkdtempSync(join(tmpdir(), 'bottle-tasks-test-'))
  private readonly slugs = new Set<string>()
  private readonly containers = new Set<string>()

  /** `engineEnv` points this sandbox at another engine (e.g. `{ DOCKER_HOST: … }`). */
  constructor(private readonly engineEnv: Record<string, string> = {}) {}

  /** A unique slug for this test, removed afterwards. */
  slug(agent = 't'): string {
    const slug = `${agent}-${Math.random().toString(36).slice(2, 7).padEnd(5, '0')}`
    this.slugs.add(slug)
    return slug
  }

  tracked(): string[] {
    return [...this.slugs]
  }

  track(slug: string): string {
    this.slugs.add(slug)
    return slug
  }

  trackContainer(name: string): void {
    this.containers.add(name)
  }

  /**
   * The environment of a task run the way the test means it. BOTTLE_TASKS_VIA_TASKFILE is dropped:
   * `task test` sets it for everything under it, and a task run directly must not think go-task ran it.
   * NO_COLOR: the tests read the plain lines (listr2 and zx colour them where colorette says so).
   */
  env(extra: Record<string, string> = {}): Record<string, string | undefined> {
    return { BOTTLE_TASKS_VIA_TASKFILE: undefined, BOT_BOTTLE_HOME: this.home, CI: 'true', NO_COLOR: '1', ...this.engineEnv, ...extra }
  }

  async task(name: string, args: string[] = [], options: { env?: Record<string, string>; input?: string } = {}): Promise<TaskResult> {
    const result = await execa(process.execPath, [TSX, join(ROOT, 'tasks', `${name}.ts`), ...args], {
      cwd: ROOT,
      env: this.env(options.env),
      reject: false,
      input: options.input ?? '',
    })
    return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr }
  }

  /** `start` a bottle and remember its slug. */
  async start(image = BASE_IMAGE, agent = 't'): Promise<string> {
    const result = await this.task('start', ['--agent', agent, '--image', image])
    if (result.exitCode !== 0) throw new Error(`start failed: ${result.stderr}`)
    return this.track(result.stdout.trim())
  }

  async dispose(): Promise<void> {
    const names = [...this.slugs].map((slug) => `bot-bottle-${slug}`).concat([...this.containers])
    const env = { ...process.env, ...this.engineEnv }
    if (names.length > 0) await execa('docker', ['rm', '-f', ...names], { env, reject: false })
    // Every tag of the test's bottles: the snapshot, its numbered history, rebuilds.
    const repositories = new Set([...this.slugs].flatMap((slug) => [`bot-bottle-committed-${slug}`, `bot-bottle-rebuilt-${slug}`]))
    const listed = await execa('docker', ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'], { env, reject: false })
    const images = String(listed.stdout ?? '').split('\n').filter((image) => repositories.has(image.split(':')[0]!))
    if (images.length > 0) await execa('docker', ['image', 'rm', '-f', ...images], { env, reject: false })
    rmSync(this.home, { recursive: true, force: true })
  }
}

export async function docker(...args: string[]): Promise<string> {
  return (await execa('docker', args)).stdout.trim()
}

export async function dockerOk(...args: string[]): Promise<boolean> {
  return (await execa('docker', args, { reject: false })).exitCode === 0
}

/** The one-line, no-stack-trace error contract. */
export function expectOneLineError(result: TaskResult): string {
  const lines = result.stderr.split('\n').filter((line) => line.trim() && !/^[❯✔✖↓›]/.test(line.trim()))
  if (lines.length !== 1) throw new Error(`expected one error line, got:\n${result.stderr}`)
  if (/^\s+at /m.test(result.stderr)) throw new Error(`stack trace in:\n${result.stderr}`)
  return lines[0]!
}

/**
 * What an engine holds: its containers, networks and volumes by name. A refusal must leave it as it
 * was (nothing booted, nothing made): compared before and after.
 */
export async function engineObjects(env: Record<string, string> = {}): Promise<{ containers: string[]; networks: string[]; volumes: string[] }> {
  const names = async (...args: string[]) => (await execa('docker', args, { env: { ...process.env, ...env } })).stdout.split('\n').filter(Boolean).sort()
  const [containers, networks, volumes] = await Promise.all([names('ps', '-a', '--format', '{{.Names}}'), names('network', 'ls', '--format', '{{.Name}}'), names('volume', 'ls', '--format', '{{.Name}}')])
  return { containers, networks, volumes }
}
