// Ctrl-C / SIGTERM in the middle of a long step: temporary resources go, the exit code is 130,
// and the bottle's snapshot is still usable.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ROOT, Sandbox, docker } from '../helpers.ts'

let sandbox: Sandbox
let out: string
beforeEach(() => {
  sandbox = new Sandbox()
  out = mkdtempSync(join(tmpdir(), 'bottle-tasks-interrupt-'))
})
afterEach(async () => {
  await sandbox.dispose()
  rmSync(out, { recursive: true, force: true })
})

describe('interrupts', () => {
  it('SIGTERM during an export removes the half-written bundle, exits 130, and leaves the snapshot usable', async () => {
    const slug = await sandbox.start()
    await docker('exec', `bot-bottle-${slug}`, 'sh', '-c', 'head -c 200M /dev/urandom > /root/big.bin && sync')
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)

    const exporting = execa(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'tasks', 'export.ts'), slug, '--output', join(out, 'b.bottle'), '--compress', 'gzip'], {
      env: sandbox.env(),
      reject: false,
    })
    // Wait until the payload is being written, then interrupt.
    const deadline = Date.now() + 30_000
    while (!readdirSync(out).some((name) => name.includes('.partial-')) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(readdirSync(out).some((name) => name.includes('.partial-'))).toBe(true)
    exporting.kill('SIGTERM')
    const result = await exporting
    expect(result.exitCode).toBe(130)
    expect(result.stderr).toContain('interrupted, removing temporary resources')
    expect(readdirSync(out)).toEqual([])

    // The lock was released and the snapshot is intact: the same export now completes.
    const again = await sandbox.task('export', [slug, '--output', join(out, 'b.bottle'), '--compress', 'none'])
    expect(again.exitCode, again.stderr).toBe(0)
    expect(readdirSync(out)).toEqual(['b.bottle'])
  })
})
