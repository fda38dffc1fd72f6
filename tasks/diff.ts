// diff: what changed between two snapshots of a bottle, or since a snapshot in the running bottle:
// paths added, changed and deleted over the whole file system, with sizes. It reads the file lists
// kept with the history (and, for the running bottle, lists its files once): no file is read.
import { backendFor } from '../lib/backends/index.ts'
import { chooseSlug, loadBottle } from '../lib/bottles.ts'
import { printResult, runTask } from '../lib/cli.ts'
import { OperationError, UsageError } from '../lib/errors.ts'
import { diffLists, excludedPaths, excluder, readFileRecord, type FileChange, type FileList, type ListDiff } from '../lib/file-list.ts'
import { flag } from '../lib/flags.ts'
import { formatBytes } from '../lib/format.ts'
import { findSnapshot, readHistory } from '../lib/history.ts'
import { committedSlugs } from '../lib/inventory.ts'

await runTask({
  name: 'diff',
  summary: 'what changed between two snapshots, or since one in the running bottle: paths added, changed, deleted, with sizes',
  usage: '[SLUG] [A [B]] [--path PREFIX] [--json]',
  flags: {
    path: flag.string('PREFIX', 'only paths under PREFIX (e.g. /home/node/project)', { parse: absolutePath }),
    json: flag.boolean('print {slug, from, to, added, changed, deleted, totals} as JSON'),
  },
  examples: [{ slug: 'dev-abc12' }, { slug: 'dev-abc12', args: '3' }, { slug: 'dev-abc12', args: '3 5 --path /home/node' }, { slug: 'dev-abc12', args: '--json' }],
  async run({ values, positionals }) {
    const [given, ...numbers] = positionals
    if (numbers.length > 2) throw new UsageError('diff compares two snapshots at most: SLUG [A [B]]')
    const [a, b] = numbers.map(snapshotNumber)
    const slug = await chooseSlug(given, committedSlugs, 'diff')
    const bottle = await loadBottle(slug)
    const snapshots = await readHistory(slug)
    const from = a === undefined ? snapshots.at(-1) : findSnapshot(slug, snapshots, a)
    if (!from) throw new UsageError(`bottle "${slug}" has no snapshot to compare with (no history yet: commit it)`)
    if (b !== undefined) findSnapshot(slug, snapshots, b)

    const backend = await backendFor(bottle.metadata)
    const [before, after, exclude] = await Promise.all([listOf(slug, from.n), b === undefined ? running(slug, backend) : listOf(slug, b), excludedPaths(slug)])
    const changes = diffLists(before, after, values.path)
    // What the exclusions keep out of the next snapshot: changes the running bottle has that no snapshot will.
    const excluded = b === undefined ? splitExcluded(changes, excluder(exclude)) : emptyDiff()
    const totals = totalsOf(changes)
    const to = b === undefined ? { running: true } : { snapshot: b }
    printResult(values.json, { slug, from: { snapshot: from.n }, to, path: values.path ?? null, ...changes, totals, excluded: totalsOf(excluded) }, () =>
      humanDiff(`${slug}: from snapshot ${from.n} to ${b === undefined ? 'the running bottle' : `snapshot ${b}`}${values.path ? ` under ${values.path}` : ''}`, changes, excluded),
    )
  },
})

function snapshotNumber(text: string): number {
  const n = Number(text)
  if (!/^\d+$/.test(text) || n < 1) throw new UsageError(`"${text}" is not a snapshot number (1, 2, …: list SLUG shows them)`)
  return n
}

function absolutePath(text: string): string {
  if (!text.startsWith('/')) throw new UsageError(`--path ${text}: give an absolute path in the bottle (/home/node/project)`)
  return text.length > 1 ? text.replace(/\/+$/, '') : text
}

async function listOf(slug: string, n: number): Promise<FileList> {
  const record = await readFileRecord(slug, n)
  if (!record) throw new OperationError(`snapshot ${n} of ${slug} has no file list (committed before bottle-tasks kept them, imported, or not a docker bottle): diff cannot compare it`)
  return record.files
}

async function running(slug: string, backend: Awaited<ReturnType<typeof backendFor>>): Promise<FileList> {
  if (!backend.currentFiles) throw new OperationError(`the ${backend.name} backend cannot list a running bottle's files: compare two snapshots (diff ${slug} A B)`)
  if ((await backend.status(slug)) !== 'running') throw new OperationError(`bottle "${slug}" is not running: compare two snapshots (diff ${slug} A B), or resume it`)
  return backend.currentFiles(slug)
}

function emptyDiff(): ListDiff {
  return { added: [], changed: [], deleted: [] }
}

/** Moves the added and changed paths that `excluded` matches out of `changes`, into what it returns. */
function splitExcluded(changes: ListDiff, excluded: (path: string) => boolean): ListDiff {
  const out = emptyDiff()
  for (const kind of ['added', 'changed'] as const) {
    out[kind] = changes[kind].filter((change) => excluded(change.path))
    changes[kind] = changes[kind].filter((change) => !excluded(change.path))
  }
  return out
}

function totalsOf(changes: ListDiff): Record<keyof ListDiff, { count: number; bytes: number }> {
  const total = (list: FileChange[]) => ({ count: list.length, bytes: list.reduce((sum, change) => sum + change.size, 0) })
  return { added: total(changes.added), changed: total(changes.changed), deleted: total(changes.deleted) }
}

function humanDiff(title: string, changes: ListDiff, excluded: ListDiff): string {
  const line = (mark: string, change: FileChange) => `${mark} ${change.path}${change.type === 'd' ? '/' : change.type === 'l' ? ' (link)' : ''}${change.size ? `  ${formatBytes(change.size)}` : ''}`
  const all = [...changes.added.map((change) => ({ mark: '+', change })), ...changes.changed.map((change) => ({ mark: '~', change })), ...changes.deleted.map((change) => ({ mark: '-', change }))]
  all.sort((x, y) => (x.change.path < y.change.path ? -1 : x.change.path > y.change.path ? 1 : 0))
  const totals = totalsOf(changes)
  const kept = totalsOf(excluded)
  const keptCount = kept.added.count + kept.changed.count
  return [
    `${title}`,
    ...all.map(({ mark, change }) => line(mark, change)),
    all.length === 0 ? 'Nothing changed.' : `${totals.added.count} added (${formatBytes(totals.added.bytes)}), ${totals.changed.count} changed (${formatBytes(totals.changed.bytes)}), ${totals.deleted.count} deleted (${formatBytes(totals.deleted.bytes)}).`,
    ...(keptCount > 0 ? [`Kept out by exclusions: ${keptCount} path(s), ${formatBytes(kept.added.bytes + kept.changed.bytes)} the next snapshot will not hold.`] : []),
    '',
  ].join('\n')
}
