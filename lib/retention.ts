// Which snapshots a retention policy keeps, decided as backup tools decide it (restic's `forget`):
// the newest N; the newest snapshot of each of the H newest hours that have one; the same for D
// days. A snapshot that any rule keeps is kept. Hours and days are this machine's local time.
import { UsageError } from './errors.ts'
import type { SnapshotEntry } from './history.ts'

export interface Retention {
  last?: number | undefined
  hourly?: number | undefined
  daily?: number | undefined
}

/** The rules given, or a usage error when none is (a prune that keeps nothing is not a policy). */
export function retentionOf(policy: Retention): Retention {
  if (policy.last === undefined && policy.hourly === undefined && policy.daily === undefined) {
    throw new UsageError('say what to keep: --keep-last N, --keep-hourly H or --keep-daily D (any of them together)')
  }
  return policy
}

/**
 * The numbers of the snapshots `policy` keeps. A snapshot whose time cannot be read is kept: no
 * rule can say how old it is, and a policy never removes what it cannot judge.
 */
export function retained(snapshots: SnapshotEntry[], policy: Retention): Set<number> {
  const newestFirst = [...snapshots].sort((a, b) => b.n - a.n)
  const kept = new Set(newestFirst.slice(0, policy.last ?? 0).map((entry) => entry.n))
  const timed = newestFirst.flatMap((entry) => {
    const at = new Date(entry.createdAt)
    if (!entry.createdAt || Number.isNaN(at.getTime())) {
      kept.add(entry.n)
      return []
    }
    return [{ n: entry.n, at }]
  })
  const byBucket = (count: number | undefined, bucket: (at: Date) => string) => {
    const seen = new Set<string>()
    for (const { n, at } of timed) {
      if (seen.size >= (count ?? 0)) return
      const key = bucket(at)
      if (seen.has(key)) continue
      seen.add(key)
      kept.add(n)
    }
  }
  byBucket(policy.hourly, (at) => `${dayOf(at)} ${at.getHours()}`)
  byBucket(policy.daily, dayOf)
  return kept
}

const dayOf = (at: Date) => `${at.getFullYear()}-${at.getMonth() + 1}-${at.getDate()}`

/** What a policy removes of a history and what survives; the snapshot committed-image names is never removed, however old. */
export function planPrune(snapshots: SnapshotEntry[], current: string | undefined, policy: Retention): { removed: SnapshotEntry[]; survivors: SnapshotEntry[] } {
  const keep = retained(snapshots, policy)
  const removed = snapshots.filter((entry) => !keep.has(entry.n) && entry.ref !== current)
  return { removed, survivors: snapshots.filter((entry) => !removed.includes(entry)) }
}
