// Long steps say how far they are: bytes of the known total, percent, rate and time left, live on a
// terminal (here a pseudo-terminal made by script(1)), and a plain line about every 10 % in a pipe.
import { readFileSync, rmSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeEach, expect, inject, it } from 'vitest'
import { ROOT, Sandbox, docker } from '../helpers.ts'

const agentImage = inject('agentImage')
let sandbox: Sandbox
let files: string
beforeEach(() => {
  sandbox = new Sandbox()
  files = mkdtempSync(join(tmpdir(), 'bottle-tasks-progress-'))
})
afterEach(async () => {
  await sandbox.dispose()
  rmSync(files, { recursive: true, force: true })
})

const ANSI = new RegExp(String.raw`\x1b\[[0-9;?]*[A-Za-z]`, 'g')
const PROGRESS = /snapshot: [\d.]+ [KMG]?i?B of [\d.]+ [KMG]?i?B \((\d+)%\)/g
const BYTES_OF = /snapshot: ([\d.]+ [KMG]?i?B) of ([\d.]+ [KMG]?i?B)/
const bytes = (text: string) => {
  const [number, unit] = text.split(' ') as [string, string]
  return Number(number) * 1024 ** ['B', 'KiB', 'MiB', 'GiB'].indexOf(unit)
}

it('shows the export of a snapshot as bytes of its size, with percentages, on a terminal and in a pipe', async () => {
  const slug = await sandbox.start(agentImage)
  await docker('exec', `bot-bottle-${slug}`, 'sh', '-c', 'head -c 4M /dev/urandom > /root/data.bin')
  expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)

  // A terminal: script(1) gives the task a pseudo-terminal (with a width, or the live list wraps every character).
  const log = join(files, 'terminal.log')
  const command = `stty cols 200 rows 50; ${process.execPath} ${join(ROOT, 'node_modules/tsx/dist/cli.mjs')} ${join(ROOT, 'tasks/export.ts')} ${slug} -o ${join(files, 'tty.bottle')}`
  const env: Record<string, string | undefined> = { ...process.env, ...sandbox.env() }
  delete env.CI // a terminal in CI is still a pipe to the task otherwise
  const terminal = await execa('script', ['-qfec', command, log], { env, extendEnv: false, reject: false })
  expect(terminal.exitCode, terminal.stdout).toBe(0)
  const seen = readFileSync(log, 'utf8').replace(ANSI, '').replaceAll('\r', '\n')
  const percents = [...seen.matchAll(PROGRESS)].map((match) => Number(match[1]))
  expect(percents.length).toBeGreaterThan(0)
  expect(seen).toMatch(/snapshot: .*\(100%\)/)
  expect(percents.every((percent, i) => i === 0 || percent >= percents[i - 1]!)).toBe(true)

  // A terminal that reports no width (a pty of 0 columns, as script(1) run from a script gives):
  // laid out at 80 columns, not one character per line.
  const narrow = join(files, 'narrow.log')
  const zero = command.replace('stty cols 200', 'stty cols 0').replace('tty.bottle', 'narrow.bottle')
  expect((await execa('script', ['-qfec', zero, narrow], { env, extendEnv: false, reject: false })).exitCode).toBe(0)
  expect(readFileSync(narrow, 'utf8').replace(ANSI, '')).toContain('Read how the bottle runs and which volumes and files travel')

  // A pipe (CI): plain lines, each crossing another tenth, ending at 100 %.
  const piped = await sandbox.task('export', [slug, '-o', join(files, 'pipe.bottle')])
  expect(piped.exitCode, piped.stderr).toBe(0)
  const lines = piped.stderr.split('\n').filter((line) => /snapshot: .*%\)/.test(line))
  expect(lines.at(-1)).toMatch(/\(100%\)/)
  const tenths = lines.map((line) => Math.floor(Number(/\((\d+)%\)/.exec(line)![1]) / 10))
  expect(new Set(tenths).size).toBe(tenths.length)
  // The total counted towards is what the save writes (within a quarter): the containerd image store
  // saves layers compressed, far less than the image's size, which a total taken from it overshot.
  const [first, last] = [BYTES_OF.exec(lines[0]!)!, BYTES_OF.exec(lines.at(-1)!)!]
  expect(bytes(first[2]!) / bytes(last[1]!)).toBeGreaterThan(0.75)
  expect(bytes(first[2]!) / bytes(last[1]!)).toBeLessThan(1.25)
})
