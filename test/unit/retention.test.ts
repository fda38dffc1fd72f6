// lib/retention.ts: which snapshots --keep-last/--keep-hourly/--keep-daily keep (restic's rules).
import { describe, expect, it } from 'vitest'
import { UsageError } from '../../lib/errors.ts'
import type { SnapshotEntry } from '../../lib/history.ts'
import { retained, retentionOf } from '../../lib/retention.ts'

// Buckets are local time: these times are read in the zone this process runs in, so every
// expectation holds in any zone.
const at = (day: number, hour: number, minute = 0) => new Date(2026, 11, day, hour, minute).toISOString()
const entry = (n: number, createdAt: string): SnapshotEntry => ({ n, ref: `snap:${n}`, createdAt, sizeBytes: 0 })
const kept = (snapshots: SnapshotEntry[], policy: Parameters<typeof retained>[1]) => [...retained(snapshots, policy)].sort((a, b) => a - b)

// Day 1: 09:05, 09:40, 10:10; day 2: 08:00, 08:30; day 4: 23:50.
const history = [entry(1, at(1, 9, 5)), entry(2, at(1, 9, 40)), entry(3, at(1, 10, 10)), entry(4, at(2, 8)), entry(5, at(2, 8, 30)), entry(6, at(4, 23, 50))]

describe('retained', () => {
  it('keeps the newest N by number', () => {
    expect(kept(history, { last: 2 })).toEqual([5, 6])
    expect(kept(history, { last: 10 })).toEqual([1, 2, 3, 4, 5, 6])
  })

  it('keeps the newest snapshot of each of the last H hours that have one', () => {
    expect(kept(history, { hourly: 1 })).toEqual([6])
    expect(kept(history, { hourly: 3 })).toEqual([3, 5, 6])
    expect(kept(history, { hourly: 4 })).toEqual([2, 3, 5, 6])
    expect(kept(history, { hourly: 99 })).toEqual([2, 3, 5, 6])
  })

  it('keeps the newest snapshot of each of the last D days that have one', () => {
    expect(kept(history, { daily: 1 })).toEqual([6])
    expect(kept(history, { daily: 2 })).toEqual([5, 6])
    expect(kept(history, { daily: 3 })).toEqual([3, 5, 6])
  })

  it('keeps what any rule keeps', () => {
    expect(kept(history, { last: 1, hourly: 2, daily: 3 })).toEqual([3, 5, 6])
    expect(kept(history, { last: 4, daily: 1 })).toEqual([3, 4, 5, 6])
  })

  it('orders by number, not by the order of the file', () => {
    expect(kept([...history].reverse(), { last: 1, hourly: 2 })).toEqual([5, 6])
  })

  it('keeps a snapshot whose time it cannot read: no rule can say how old it is', () => {
    expect(kept([entry(1, ''), entry(2, 'yesterday'), entry(3, at(3, 12))], { daily: 1 })).toEqual([1, 2, 3])
  })

  it('refuses a policy with no rule as bad usage', () => {
    expect(() => retentionOf({})).toThrow(UsageError)
    expect(retentionOf({ hourly: 3 })).toEqual({ hourly: 3 })
  })
})
