// list: active bottles and committed snapshots.
import { UsageError, printResult, runTask } from '../lib/cli.ts'
import { inventory, type BottleRow } from '../lib/inventory.ts'

await runTask({
  name: 'list',
  summary: 'list bottles: running or not, and their committed snapshots',
  usage: 'tsx tasks/list.ts [--json]',
  flags: ['--json               print the bottles as a JSON array'],
  examples: ['task list', 'npx tsx tasks/list.ts --json | jq -r ".[].slug"'],
  options: { json: { type: 'boolean' } },
  async run({ values, positionals }) {
    if (positionals.length > 0) throw new UsageError(`list takes no arguments (got ${positionals.join(' ')})`)
    const rows = await inventory()
    printResult(values.json, rows, () => table(rows))
  },
})

function table(rows: BottleRow[]): string {
  if (rows.length === 0) return 'No bottles. Start one: task start -- --agent dev --image debian:bookworm-slim\n'
  const header = ['SLUG', 'AGENT', 'BACKEND', 'STATUS', 'STARTED', 'SNAPSHOT']
  const lines = rows.map((row) => [
    row.slug,
    row.agent || '-',
    row.backend,
    row.status,
    row.startedAt ? row.startedAt.replace('T', ' ').slice(0, 19) : '-',
    row.problem ? `(unreadable state: ${row.problem})` : (row.snapshot ?? '-'),
  ])
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((line) => line[i]!.length)))
  return [header, ...lines].map((line) => line.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n'
}
