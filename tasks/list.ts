// list: active bottles and committed snapshots; with a SLUG, that bottle's snapshot history and
// how it runs (what resume brings back).
import { loadBottle, singleSlugArgument } from '../lib/bottles.ts'
import { commandLine, printResult, runTask } from '../lib/cli.ts'
import { flag } from '../lib/flags.ts'
import { formatBytes } from '../lib/format.ts'
import { readHistory, type SnapshotEntry } from '../lib/history.ts'
import { inventory, type BottleRow } from '../lib/inventory.ts'
import { describeOrigin, readOrigin } from '../lib/origin.ts'
import { summarize, type RunConfig } from '../lib/run-config.ts'
import { readCommittedImage, readRunConfig } from '../lib/state.ts'

await runTask({
  name: 'list',
  summary: "list bottles (running or not) and their snapshots; with a SLUG, that bottle's snapshot history and how it runs",
  usage: '[SLUG] [--json]',
  flags: { json: flag.boolean('print the bottles (or the history and run configuration) as JSON') },
  examples: [{}, { slug: 'dev-abc12' }, { args: '--json' }],
  async run({ values, positionals }) {
    const slug = singleSlugArgument(positionals)
    if (slug === undefined) {
      const rows = await inventory()
      // What each bottle's history holds of its own (beyond the image it started from): summed from its record, no engine asked.
      const totals = await Promise.all(rows.map((row) => (row.problem ? undefined : readHistory(row.slug).then(ownTotal, () => undefined))))
      const listed = rows.map((row, i) => (totals[i] === undefined ? row : { ...row, historyBytes: totals[i] }))
      printResult(values.json, listed, () => bottleTable(listed))
      return
    }
    await loadBottle(slug)
    const [snapshots, current, runConfig, origin] = await Promise.all([readHistory(slug), readCommittedImage(slug), readRunConfig(slug), readOrigin(slug)])
    printResult(values.json, { slug, current: current ?? null, snapshots, runConfig: runConfig ?? null, origin: origin ?? null }, () => historyTable(slug, current ?? null, snapshots) + runLines(runConfig, Boolean(origin && !origin.trusted)) + describeOrigin(origin).map((line) => `${line}\n`).join(''))
  },
})

function table(header: string[], lines: string[][]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((line) => line[i]!.length)))
  return [header, ...lines].map((line) => line.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n'
}

function when(iso: string): string {
  return iso ? iso.replace('T', ' ').slice(0, 19) : '-'
}

/** The snapshots' own bytes together; undefined when none of them says (recorded before bottle-tasks did). */
function ownTotal(snapshots: SnapshotEntry[]): number | undefined {
  const known = snapshots.filter((entry) => entry.ownBytes !== undefined)
  return known.length === 0 ? undefined : known.reduce((sum, entry) => sum + entry.ownBytes!, 0)
}

function bottleTable(rows: Array<BottleRow & { historyBytes?: number }>): string {
  if (rows.length === 0) return `No bottles. Start one: ${commandLine('start', { args: '--agent dev --image debian:bookworm-slim' })}\n`
  return table(
    ['SLUG', 'AGENT', 'BACKEND', 'STATUS', 'STARTED', 'SNAPSHOT', 'HISTORY'],
    rows.map((row) => [
      row.slug,
      row.agent || '-',
      row.backend,
      row.leftovers ? `${row.status} (sidecars left)` : row.status,
      when(row.startedAt),
      row.problem ? `(unreadable state: ${row.problem})` : (row.snapshot ?? '-'),
      row.historyBytes === undefined ? '-' : formatBytes(row.historyBytes),
    ]),
  )
}

function historyTable(slug: string, current: string | null, snapshots: SnapshotEntry[]): string {
  if (snapshots.length === 0) return `${slug} has no snapshot history${current ? ` (its snapshot: ${current})` : ''}. Commit it: ${commandLine('commit', { slug })}\n`
  const newest = snapshots.at(-1)!.n
  const total = ownTotal(snapshots)
  return (
    table(
      ['N', 'CREATED', 'SIZE', 'OWN', 'SNAPSHOT', 'MESSAGE'],
      snapshots.map((entry) => [`${entry.n}${entry.n === newest ? '*' : ''}`, when(entry.createdAt), formatBytes(entry.sizeBytes), entry.ownBytes === undefined ? '-' : formatBytes(entry.ownBytes), entry.ref, entry.message ?? '']),
    ) +
    `* newest: what resume boots and ${current ?? 'committed-image'} names. Boot another: ${commandLine('resume', { slug, args: '--snapshot N' })}\n` +
    `SIZE: the whole image; OWN: what it adds beyond the snapshot or image it builds on. The history holds ${total === undefined ? 'an unknown amount' : formatBytes(total)} of its own${total !== undefined && snapshots.some((entry) => entry.ownBytes === undefined) ? ' (and snapshots recorded before sizes were)' : ''}.\n` +
    keptOut(snapshots.at(-1))
  )
}

function runLines(config: RunConfig | undefined, held: boolean): string {
  if (!config) return 'How it runs: not recorded yet (commit records it).\n'
  return [held ? 'How it ran where it came from (resume brings back only what you allowed, below):' : 'How it runs (what resume brings back):', ...summarize(config).map((line) => `  ${line}`), ''].join('\n')
}

/** What the exclusions kept out of the newest snapshot, when they kept anything out. */
function keptOut(newest: SnapshotEntry | undefined): string {
  return newest?.excludedBytes ? `Exclusions (the state dir's exclude file) kept ${formatBytes(newest.excludedBytes)} out of snapshot ${newest.n}.\n` : ''
}
