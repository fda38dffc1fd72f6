// commit: snapshot a running bottle without stopping it, and record the snapshot.
import { backendFor, type CommitContext } from '../lib/backends/index.ts'
import { chooseSlug, loadBottle, singleSlugArgument } from '../lib/bottles.ts'
import { OperationError, printResult, runTask } from '../lib/cli.ts'
import { lockBottle } from '../lib/lock.ts'
import { runSteps } from '../lib/progress.ts'
import { markPreserved, writeCommittedImage } from '../lib/state.ts'
import { runningSlugs } from '../lib/inventory.ts'
import { recordSnapshot, type SnapshotEntry } from '../lib/history.ts'

await runTask({
  name: 'commit',
  summary: 'snapshot a running bottle without stopping it; resume and export use the snapshot',
  usage: 'tsx tasks/commit.ts [SLUG] [--message TEXT] [--json]',
  flags: ['-m, --message TEXT   a note kept with this snapshot in the history', '--json               print {slug, snapshot, n} as JSON'],
  examples: ['task commit SLUG=dev-abc12', 'task commit SLUG=dev-abc12 -- --message "before the refactor"', 'npx tsx tasks/commit.ts dev-abc12 --json'],
  options: { message: { type: 'string', short: 'm' }, json: { type: 'boolean' } },
  async run({ values, positionals }) {
    const slug = await chooseSlug(singleSlugArgument(positionals), runningSlugs, 'commit')
    const bottle = await loadBottle(slug)
    const backend = backendFor(bottle.metadata)
    await lockBottle(slug)

    const context = await runSteps<CommitContext & { entry?: SnapshotEntry }>(
      [
        ...backend.commitSteps(),
        {
          title: 'Record the snapshot in the state dir and its history',
          run: async (ctx) => {
            ctx.entry = await recordSnapshot(backend, slug, ctx.snapshotRef!, values.message)
            await writeCommittedImage(slug, ctx.snapshotRef!)
            await markPreserved(slug)
          },
        },
      ],
      { bottle },
      { quiet: values.json },
    ).catch(async (error: unknown) => {
      // Checked after a failure rather than before every commit: it costs an engine round trip.
      if ((await backend.status(slug)) !== 'running') {
        throw new OperationError(`bottle "${slug}" is not running: only a running bottle can be committed (resume it first)`)
      }
      throw error
    })

    printResult(values.json, { slug, backend: backend.name, snapshot: context.snapshotRef, n: context.entry?.n, ref: context.entry?.ref }, () =>
      [
        `Committed ${slug} to ${context.snapshotRef} (snapshot ${context.entry?.n}); the bottle is still running.`,
        `Resume it later:  task resume SLUG=${slug}`,
        `Move it:          task export SLUG=${slug} -- --output ${slug}.bottle`,
        '',
      ].join('\n'),
    )
  },
})
