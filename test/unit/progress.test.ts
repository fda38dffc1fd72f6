// The byte counter of a long step in a pipe: a plain line per tenth crossed, and always a last line at 100 %.
import { afterEach, beforeEach, expect, it } from 'vitest'
import { byteProgress } from '../../lib/progress.ts'

let savedCi: string | undefined
beforeEach(() => {
  savedCi = process.env.CI
  process.env.CI = '1' // a pipe, whatever runs the tests
})
afterEach(() => {
  if (savedCi === undefined) delete process.env.CI
  else process.env.CI = savedCi
})

function lines(calls: [number, boolean][], total: number): string[] {
  const seen: string[] = []
  const progress = byteProgress((line) => seen.push(line), 'snapshot', total)
  for (const [done, final] of calls) progress(done, final)
  return seen
}

it('writes a line each time another tenth is crossed, and the end as 100 %', () => {
  const seen = lines([[5, false], [10, false], [15, false], [55, false], [58, false], [100, false], [100, true]], 100)
  expect(seen.map((line) => /\((\d+)%\)/.exec(line)![1])).toEqual(['5', '10', '55', '99', '100'])
})

it('ends at 100 % when the work outgrows its estimate before the end', () => {
  // An archive's headers on top of an image's size: the count passes the total before the stream ends.
  const seen = lines([[50, false], [101, false], [106, false], [106, true]], 100)
  expect(seen.at(-1)).toMatch(/106 B of 106 B \(100%\)/)
  expect(seen.filter((line) => line.includes('(100%)'))).toHaveLength(1)
})
