// Faults injected from outside: a CLI that fails half-way, a disk that fills up, a CLI that is
// missing. Each: one clear line, exit 1, nothing half-written left, the snapshot still usable.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Sandbox, docker, expectOneLineError } from '../helpers.ts'

const isRoot = process.getuid?.() === 0
let sandbox: Sandbox
let scratch: string
beforeEach(() => {
  sandbox = new Sandbox()
  scratch = mkdtempSync(join(tmpdir(), 'bottle-tasks-faults-'))
})
afterEach(async () => {
  await sandbox.dispose()
  await execa('umount', [join(scratch, 'small')], { reject: false })
  rmSync(scratch, { recursive: true, force: true })
})

async function committedBottle(): Promise<string> {
  const slug = await sandbox.start()
  await docker('exec', `bot-bottle-${slug}`, 'sh', '-c', 'head -c 30M /dev/urandom > /root/data.bin && sync')
  expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)
  return slug
}

describe('faults', () => {
  it('a docker that dies half-way through `save`: one line naming the step, no partial bundle', async () => {
    const slug = await committedBottle()
    const { stdout: realDocker } = await execa('sh', ['-c', 'command -v docker'])
    const fakes = join(scratch, 'bin')
    mkdirSync(fakes)
    // Passes everything through, but `docker save` stops after 1 MB with an error, as a daemon crash would.
    writeFileSync(
      join(fakes, 'docker'),
      `#!/bin/sh\nif [ "$1" = save ]; then "${realDocker}" "$@" | head -c 1000000; echo "Error response from daemon: unexpected EOF" >&2; exit 1; fi\nexec "${realDocker}" "$@"\n`,
      { mode: 0o755 },
    )
    const out = join(scratch, 'out')
    mkdirSync(out)
    const result = await sandbox.task('export', [slug, '--output', join(out, 'x.bottle')], { env: { PATH: `${fakes}:${process.env.PATH}` } })
    expect(result.exitCode).toBe(1)
    expect(expectOneLineError(result)).toMatch(/^export failed at "Save, compress \(\w+\) and write .*": docker: Error response from daemon: unexpected EOF$/)
    expect(readdirSync(out)).toEqual([])
    expect((await sandbox.task('export', [slug, '--output', join(out, 'x.bottle')])).exitCode).toBe(0)
  })

  it.skipIf(!isRoot)('a full disk while writing a bundle: one line, no partial bundle, the snapshot intact', async () => {
    const slug = await committedBottle()
    const small = join(scratch, 'small')
    mkdirSync(small)
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small])
    const result = await sandbox.task('export', [slug, '--output', join(small, 'x.bottle'), '--compress', 'none'])
    expect(result.exitCode).toBe(1)
    expect(expectOneLineError(result)).toMatch(/^export failed at ".*": ENOSPC: no space left on device/)
    expect(readdirSync(small)).toEqual([])
    expect(existsSync(join(sandbox.home, 'state', slug, 'committed-image'))).toBe(true)
    expect((await sandbox.task('export', [slug, '--output', join(scratch, 'ok.bottle')])).exitCode).toBe(0)
  })

  it('a backend CLI missing from PATH: says which one', async () => {
    const slug = sandbox.slug('smol')
    mkdirSync(join(sandbox.home, 'state', slug), { recursive: true })
    writeFileSync(join(sandbox.home, 'state', slug, 'metadata.json'), JSON.stringify({ identity: slug, agent_name: 'smol', backend: 'smolmachines' }))
    const result = await sandbox.task('commit', [slug])
    expect(result.exitCode).toBe(1)
    expect(expectOneLineError(result)).toContain('"smolvm" is not on PATH')
  })
})

describe('after a crash', () => {
  it('cleanup removes what a killed task left (scratch dirs, temporary registries) and nothing that is alive', async () => {
    // A task that died (kill -9) with a pid that no longer exists, and one still alive (this process).
    const dead = 999_999
    const scratchDirs = join(sandbox.home, 'tmp')
    mkdirSync(join(scratchDirs, `commit-${dead}-abc123`), { recursive: true })
    mkdirSync(join(scratchDirs, `commit-${process.pid}-live00`), { recursive: true })
    const { stdout: host } = await execa('hostname')
    const name = `bottle-tasks-registry-crashed${process.pid}`
    const labels = ['bottle-tasks.ephemeral-registry=1', `bottle-tasks.owner-pid=${dead}`, `bottle-tasks.owner-host=${host.trim()}`].flatMap((label) => ['--label', label])
    await docker('network', 'create', ...labels, name)
    await docker('create', '--name', name, ...labels, '--network', name, 'debian:bookworm-slim', 'true')
    try {
      const dry = await sandbox.task('cleanup', ['--dry-run', '--json'])
      const orphans = JSON.parse(dry.stdout).actions.filter((action: { what: string }) => action.what === 'remove-orphan').map((action: { slug: string }) => action.slug)
      // Leftovers of other runs on this engine may be listed too; ours are, and the live one is not.
      expect(orphans).toEqual(expect.arrayContaining([join(scratchDirs, `commit-${dead}-abc123`), name]))
      expect(orphans.filter((orphan: string) => orphan === name || orphan.startsWith(sandbox.home)).sort()).toEqual([join(scratchDirs, `commit-${dead}-abc123`), name, name].sort())
      expect((await sandbox.task('cleanup')).exitCode).toBe(0)
      expect(readdirSync(scratchDirs)).toEqual([`commit-${process.pid}-live00`])
      expect(await docker('ps', '-aq', '--filter', `name=${name}`)).toBe('')
      expect(await docker('network', 'ls', '-q', '--filter', `name=${name}`)).toBe('')
    } finally {
      await execa('docker', ['rm', '-f', name], { reject: false })
      await execa('docker', ['network', 'rm', name], { reject: false })
    }
  })
})
