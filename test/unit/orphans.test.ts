// Which processes count as gone when cleanup looks for what crashed tasks left.
import { execa } from 'execa'
import { describe, expect, it } from 'vitest'
import { isAlive } from '../../lib/orphans.ts'

describe('isAlive', () => {
  it('is true for a running process and false for an exited one', async () => {
    expect(isAlive(process.pid)).toBe(true)
    const exited = await execa('sh', ['-c', 'echo $$'])
    expect(isAlive(Number(exited.stdout))).toBe(false)
  })

  it('counts a killed process that nobody has reaped yet (a zombie) as dead', async () => {
    // The shell's child is killed, then the shell becomes `sleep`, which never reaps it.
    const parent = execa('sh', ['-c', 'sleep 60 & child=$!; kill -9 $child; echo $child; exec sleep 60'], { reject: false })
    try {
      const child = await new Promise<number>((resolve) => parent.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))))
      // Its zombie is there until the parent goes: kill(0) alone would call it alive.
      expect(() => process.kill(child, 0)).not.toThrow()
      expect(isAlive(child)).toBe(false)
    } finally {
      parent.kill('SIGKILL')
      await parent
    }
  })
})
