// A bottle's snapshots as a history: snapshots.json in its state dir, newest last.
import * as z from 'zod/mini'
import './schema.ts'
import { UsageError } from './errors.ts'
import { keepFileRecords } from './file-list.ts'
import { readStateFile, statePath, writeAtomic } from './state.ts'
import type { BottleBackend } from './backends/types.ts'

const entrySchema = z.looseObject({
  n: z.int().check(z.positive()),
  /** The snapshot's own reference: a numbered tag, or a file for smolmachines. */
  ref: z.string().check(z.minLength(1)),
  createdAt: z.string(),
  sizeBytes: z.number().check(z.nonnegative()),
  /** What this snapshot adds beyond the one it builds on (see keepSnapshot); absent where unknown. */
  ownBytes: z.optional(z.number().check(z.nonnegative())),
  message: z.optional(z.string()),
  /** When the commit began: a change after it may be missing from the snapshot (watch looks from there). */
  capturedAt: z.optional(z.string()),
  /** What differed from the bottle's image then, as the backend digests it (watch compares it). */
  changeSet: z.optional(z.string()),
  /** The container it was captured from, and the image it is (docker): the next commit may build on it. */
  container: z.optional(z.string()),
  image: z.optional(z.string()),
  /** The bytes of the files its exclusions kept out of it. */
  excludedBytes: z.optional(z.number().check(z.nonnegative())),
})
const historySchema = z.looseObject({ snapshots: z.array(entrySchema) })
export type SnapshotEntry = z.infer<typeof entrySchema>

export async function readHistory(slug: string): Promise<SnapshotEntry[]> {
  const history = await readStateFile(slug, 'history', historySchema)
  return [...(history?.snapshots ?? [])].sort((a, b) => a.n - b.n)
}

export async function writeHistory(slug: string, snapshots: SnapshotEntry[]): Promise<void> {
  await writeAtomic(statePath(slug, 'history'), `${JSON.stringify({ snapshots }, null, 2)}\n`)
  // A pruned snapshot's file list goes with it.
  await keepFileRecords(slug, snapshots.map((entry) => entry.n))
}

export function nextNumber(snapshots: SnapshotEntry[]): number {
  return Math.max(0, ...snapshots.map((entry) => entry.n)) + 1
}

/** Snapshot N of a bottle, or a usage error that lists the ones there are. */
export function findSnapshot(slug: string, snapshots: SnapshotEntry[], n: number): SnapshotEntry {
  const entry = snapshots.find((candidate) => candidate.n === n)
  if (!entry) {
    const known = snapshots.map((candidate) => candidate.n).join(', ')
    throw new UsageError(`bottle "${slug}" has no snapshot ${n}${known ? `; it has ${known}` : ' (no history yet: commit it)'}`)
  }
  return entry
}

/** Record the newest snapshot as the next number of the history (commit, import, fork). */
export async function recordSnapshot(
  backend: Pick<BottleBackend, 'keepSnapshot'>,
  slug: string,
  latestRef: string,
  about: {
    message?: string | undefined
    capturedAt?: string
    changeSet?: string | undefined
    container?: string | undefined
    excludedBytes?: number | undefined
    bases?: Array<string | undefined>
  } = {},
  /** More to keep under the snapshot's number, written while the engine is asked (a file list); before the entry that names it. */
  alongside?: (n: number) => Promise<void>,
): Promise<SnapshotEntry> {
  const snapshots = await readHistory(slug)
  const n = nextNumber(snapshots)
  const { bases = [], ...said } = about
  // What it may build on: the snapshot before it, and what the caller knows (the image the bottle runs from, a fork's source).
  const [kept] = await Promise.all([backend.keepSnapshot(slug, latestRef, n, [...new Set([snapshots.at(-1)?.ref, ...bases].filter((base): base is string => Boolean(base)))]), alongside?.(n)])
  const defined = Object.fromEntries(Object.entries(said).filter(([, value]) => value)) as typeof said
  const own = kept.ownBytes === undefined ? {} : { ownBytes: kept.ownBytes }
  const image = kept.id && defined.container ? { image: kept.id } : {}
  const entry: SnapshotEntry = { n, ref: kept.ref, createdAt: new Date().toISOString(), sizeBytes: kept.sizeBytes, ...own, ...defined, ...image }
  await writeHistory(slug, [...snapshots, entry])
  return entry
}
