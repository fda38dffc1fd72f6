// list: active bottles and committed snapshots; with a SLUG, that bottle's snapshot history.
import { loadBottle, singleSlugArgument } from '../lib/bottles.ts'
import { printResult, runTask } from '../lib/cli.ts'
import { readHistory, type SnapshotEntry } from '../lib/history.ts'
import { inventory, type BottleRow } from '../lib/inventory.ts'
import { formatBytes } from '../lib/pipeline.ts'
import { readCommittedImage } from '../lib/state.ts'

await runTask({
  name: 'list',
  summary: "list bottles (running or not) and their snapshots; with a SLUG, that bottle's snapshot history",
  usage: 'tsx tasks/list.ts [SLUG] [--json]',
  flags: ['--json               print the bottles (or the history) as JSON'],
  examples: ['task list', 'task list SLUG=dev-abc12', 'npx tsx tasks/list.ts --json | jq -r ".[].slug"'],
  options: { json: { type: 'boolean' } },
  async run({ values, positionals }) {
    const slug = singleSlugArgument(positionals)
    if (slug === undefined) {
      const rows = await inventory()
      printResult(values.json, rows, () => bottleTable(rows))
      return
    }
    await loadBottle(slug)
    const snapshots = await readHistory(slug)
    const current = (await readCommittedImage(slug)) ?? null
    printResult(values.json, { slug, current, snapshots }, () => historyTable(slug, current, snapshots))
  },
})

function table(header: string[], lines: string[][]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((line) => line[i]!.length)))
  return [header, ...lines].map((line) => line.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n'
}

function when(iso: string): string {
  return iso ? iso.replace('T', ' ').slice(0, 19) : '-'
}

function bottleTable(rows: BottleRow[]): string {
  if (rows.length === 0) return 'No bottles. Start one: task start -- --agent dev --image debian:bookworm-slim\n'
  return table(
    ['SLUG', 'AGENT', 'BACKEND', 'STATUS', 'STARTED', 'SNAPSHOT'],
    rows.map((row) => [row.slug, row.agent || '-', row.backend, row.status, when(row.startedAt), row.problem ? `(unreadable state: ${row.problem})` : (row.snapshot ?? '-')]),
  )
}

function historyTable(slug: string, current: string | null, snapshots: SnapshotEntry[]): string {
  if (snapshots.length === 0) return `${slug} has no snapshot history${current ? ` (its snapshot: ${current})` : ''}. Commit it: task commit SLUG=${slug}\n`
  const newest = snapshots.at(-1)!.n
  return (
    table(
      ['N', 'CREATED', 'SIZE', 'SNAPSHOT', 'MESSAGE'],
      snapshots.map((entry) => [`${entry.n}${entry.n === newest ? '*' : ''}`, when(entry.createdAt), formatBytes(entry.sizeBytes), entry.ref, entry.message ?? '']),
    ) + `* newest: what resume boots and ${current ?? 'committed-image'} names. Boot another: task resume SLUG=${slug} -- --snapshot N\n`
  )
}
