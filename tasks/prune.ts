// prune: remove a bottle's older snapshots by a retention policy: the newest N, the newest of each of
// the last H hours and D days (never the one committed-image names).
import { backendFor } from '../lib/backends/index.ts'
import { chooseSlug, loadBottle, singleSlugArgument } from '../lib/bottles.ts'
import { printResult, runTask } from '../lib/cli.ts'
import { UsageError } from '../lib/errors.ts'
import { count, flag } from '../lib/flags.ts'
import { findSnapshot, readHistory, writeHistory, type SnapshotEntry } from '../lib/history.ts'
import { planPrune, retentionOf } from '../lib/retention.ts'
import { committedSlugs } from '../lib/inventory.ts'
import { lockBottle } from '../lib/lock.ts'
import { runSteps } from '../lib/progress.ts'
import { readCommittedImage } from '../lib/state.ts'

await runTask({
  name: 'prune',
  summary: "remove a bottle's older snapshots, keeping the newest N, one an hour for H hours, one a day for D days",
  usage: '[SLUG] --keep-last N | --keep-hourly H | --keep-daily D | --snapshot N... [--dry-run] [--json]',
  flags: {
    'keep-last': flag.string('N', 'keep the newest N snapshots (≥ 1)', { parse: count() }),
    'keep-hourly': flag.string('H', 'keep the newest snapshot of each of the last H hours that have one (local time)', { parse: count() }),
    'keep-daily': flag.string('D', 'keep the newest snapshot of each of the last D days that have one (local time)', { parse: count() }),
    keep: flag.string('N', 'the same as --keep-last N', { parse: count() }),
    snapshot: flag.repeated('N', 'remove snapshot N (repeatable), whatever its age; the others stay whole', { parse: count() }),
    'dry-run': flag.boolean('print what would be removed, remove nothing'),
    json: flag.boolean('print {slug, removed, kept} as JSON'),
  },
  examples: [
    { slug: 'dev-abc12', args: '--keep-last 3' },
    { slug: 'dev-abc12', args: '--keep-last 5 --keep-hourly 24 --keep-daily 7' },
    { slug: 'dev-abc12', args: '--snapshot 4' },
    { slug: 'dev-abc12', args: '--keep-last 1 --dry-run' },
  ],
  async run({ values, positionals }) {
    if (values.keep !== undefined && values['keep-last'] !== undefined) throw new UsageError('--keep is --keep-last: give one of them')
    const byPolicy = { last: values['keep-last'] ?? values.keep, hourly: values['keep-hourly'], daily: values['keep-daily'] }
    const chosen = values.snapshot
    if (chosen.length > 0 && Object.values(byPolicy).some((value) => value !== undefined)) throw new UsageError('--snapshot names what to remove, --keep-* what to keep: give one or the other')
    const policy = chosen.length > 0 ? undefined : retentionOf(byPolicy)
    const slug = await chooseSlug(singleSlugArgument(positionals), committedSlugs, 'prune')
    const bottle = await loadBottle(slug)
    const backend = await backendFor(bottle.metadata)
    await lockBottle(slug)
    const [snapshots, current] = await Promise.all([readHistory(slug), readCommittedImage(slug)])
    const { removed, survivors } = policy ? planPrune(snapshots, current, policy) : pickPrune(slug, snapshots, current, chosen)

    if (!values['dry-run'] && removed.length > 0) {
      await runSteps(
        [
          { title: `Remove snapshot${removed.length > 1 ? 's' : ''} ${numbers(removed)}`, run: () => backend.removeSnapshots(removed.map((entry) => entry.ref)) },
          { title: 'Record the history', run: () => writeHistory(slug, survivors) },
        ],
        {},
        { quiet: values.json },
      )
    }
    printResult(values.json, { slug, dryRun: values['dry-run'], removed, kept: survivors }, () =>
      removed.length === 0
        ? `Nothing to prune: ${slug} has ${snapshots.length} snapshot(s), and the policy keeps them all.\n`
        : `${values['dry-run'] ? 'Would remove' : 'Removed'} snapshot(s) ${numbers(removed)} of ${slug}; kept ${numbers(survivors)}.\n`,
    )
  },
})

/** The snapshots named: each must be in the history, and none the one committed-image names. */
function pickPrune(slug: string, snapshots: SnapshotEntry[], current: string | undefined, chosen: number[]): { removed: SnapshotEntry[]; survivors: SnapshotEntry[] } {
  const removed = [...new Set(chosen)].map((n) => findSnapshot(slug, snapshots, n))
  const inUse = removed.find((entry) => entry.ref === current)
  if (inUse) throw new UsageError(`snapshot ${inUse.n} is the one ${slug} resumes from: it stays`)
  return { removed, survivors: snapshots.filter((entry) => !removed.includes(entry)) }
}

/** 1-5, 7, 9-12: a long history in one line. */
function numbers(entries: SnapshotEntry[]): string {
  const ranges: string[] = []
  for (let i = 0; i < entries.length; i++) {
    let j = i
    while (j + 1 < entries.length && entries[j + 1]!.n === entries[j]!.n + 1) j++
    ranges.push(j > i ? `${entries[i]!.n}-${entries[j]!.n}` : `${entries[i]!.n}`)
    i = j
  }
  return ranges.join(', ')
}
