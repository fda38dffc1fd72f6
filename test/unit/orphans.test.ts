// Which processes count as gone when cleanup looks for what crashed tasks left.
import { readFileSync } from 'node:fs'
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
    // The shell says its child's pid and becomes `sleep`, which never reaps a child.
    const parent = execa('sh', ['-c', 'sleep 60 & echo $!; exec sleep 60'], { reject: false })
    try {
      const child = await new Promise<number>((resolve) => parent.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))))
      expect(isAlive(child)).toBe(true)
      process.kill(child, 'SIGKILL')
      // Until its parent goes, it stays a zombie (state Z, the field after its name): kill(0) alone would call it alive.
      const state = () => readFileSync(`/proc/${child}/stat`, 'utf8').replace(/^.*\) /s, '')[0]
      while (state() !== 'Z');
      expect(() => process.kill(child, 0)).not.toThrow()
      expect(isAlive(child)).toBe(false)
    } finally {
      parent.kill('SIGKILL')
      await parent
    }
  })
})
