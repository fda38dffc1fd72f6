// How long steps report where they are.
import { describe, expect, it } from 'vitest'
import { formatProgress } from '../../lib/format.ts'

const MiB = 1024 * 1024

describe('formatProgress', () => {
  it('says done of total, percent, rate and time left', () => {
    expect(formatProgress(30 * MiB, 120 * MiB, 2000)).toBe('30.0 MiB of 120.0 MiB (25%), 15.0 MiB/s, 6 s left')
    expect(formatProgress(120 * MiB, 120 * MiB, 8000, true)).toBe('120.0 MiB of 120.0 MiB (100%), 15.0 MiB/s')
  })

  it('stays below 100 % until the step has ended, and never shows more done than the total', () => {
    expect(formatProgress(120 * MiB, 120 * MiB, 8000)).toBe('120.0 MiB of 120.0 MiB (99%), 15.0 MiB/s, 0 s left')
    expect(formatProgress(125 * MiB, 120 * MiB, 5000)).toBe('125.0 MiB of 125.0 MiB (99%), 25.0 MiB/s, 0 s left')
  })

  it('without a total, says how much and how fast', () => {
    expect(formatProgress(3 * MiB, 0, 1000)).toBe('3.0 MiB, 3.0 MiB/s')
  })
})
