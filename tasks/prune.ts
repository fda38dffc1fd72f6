// prune: remove older snapshots of a bottle, keeping the newest N (never the one committed-image names).
import { backendFor } from '../lib/backends/index.ts'
import { chooseSlug, loadBottle, singleSlugArgument } from '../lib/bottles.ts'
import { printResult, runTask } from '../lib/cli.ts'
import { UsageError } from '../lib/errors.ts'
import { count, flag } from '../lib/flags.ts'
import { readHistory, writeHistory, type SnapshotEntry } from '../lib/history.ts'
import { committedSlugs } from '../lib/inventory.ts'
import { lockBottle } from '../lib/lock.ts'
import { runSteps } from '../lib/progress.ts'
import { readCommittedImage } from '../lib/state.ts'

await runTask({
  name: 'prune',
  summary: "remove a bottle's older snapshots, keeping the newest N",
  usage: '[SLUG] --keep N [--dry-run] [--json]',
  flags: {
    keep: flag.string('N', 'how many of the newest snapshots to keep (≥ 1)', { parse: count() }),
    'dry-run': flag.boolean('print what would be removed, remove nothing'),
    json: flag.boolean('print {slug, removed, kept} as JSON'),
  },
  examples: [{ slug: 'dev-abc12', args: '--keep 3' }, { slug: 'dev-abc12', args: '--keep 1 --dry-run' }],
  async run({ values, positionals }) {
    const keep = values.keep
    if (keep === undefined) throw new UsageError('--keep N is required')
    const slug = await chooseSlug(singleSlugArgument(positionals), committedSlugs, 'prune')
    const bottle = await loadBottle(slug)
    const backend = await backendFor(bottle.metadata)
    await lockBottle(slug)
    const [snapshots, current] = await Promise.all([readHistory(slug), readCommittedImage(slug)])
    const kept = snapshots.slice(-keep)
    // The snapshot committed-image names is never removed, however old.
    const removed = snapshots.slice(0, -keep).filter((entry) => entry.ref !== current)
    const survivors = snapshots.filter((entry) => !removed.includes(entry))

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
        ? `Nothing to prune: ${slug} has ${snapshots.length} snapshot(s), keeping ${kept.length}.\n`
        : `${values['dry-run'] ? 'Would remove' : 'Removed'} snapshot(s) ${numbers(removed)} of ${slug}; kept ${numbers(survivors)}.\n`,
    )
  },
})

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
