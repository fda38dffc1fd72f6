// Ctrl-C / SIGTERM in the middle of a long step: temporary resources go, the exit code is 130,
// and the bottle's snapshot is still usable.
import { mkdtempSync, readdirSync, rmSync, statSync, watch } from 'node:fs'
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
    await docker('exec', `bot-bottle-${slug}`, 'sh', '-c', 'head -c 64M /dev/urandom > /root/big.bin && sync')
    expect((await sandbox.task('commit', [slug])).exitCode).toBe(0)

    // Interrupt once the half-written bundle has bytes in it: told by the directory (inotify), not a clock.
    const partialWritten = bytesWrittenTo(out)
    const exporting = execa(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'tasks', 'export.ts'), slug, '--output', join(out, 'b.bottle'), '--compress', 'gzip'], {
      env: sandbox.env(),
      reject: false,
    })
    const partial = await Promise.race([partialWritten.promise, exporting.then((ended) => Promise.reject(new Error(`export ended before writing anything: ${ended.stderr}`)))]).finally(partialWritten.stop)
    expect(partial).toMatch(/^\.b\.bottle\.partial-/)
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

/** Resolves with the name of the first partial bundle in `dir` that has bytes in it. */
function bytesWrittenTo(dir: string): { promise: Promise<string>; stop: () => void } {
  let stop = () => {}
  const promise = new Promise<string>((resolve) => {
    const watcher = watch(dir, (_event, name) => {
      if (name?.includes('.partial-') && (statSync(join(dir, name), { throwIfNoEntry: false })?.size ?? 0) > 0) resolve(name)
    })
    stop = () => watcher.close()
  })
  return { promise, stop }
}
