// commit: snapshot a running bottle without stopping it, and record the snapshot and how it runs.
import { backendFor } from '../lib/backends/index.ts'
import { chooseSlug, loadBottle, singleSlugArgument } from '../lib/bottles.ts'
import { commitSteps, type CommitRecord } from '../lib/commit.ts'
import { excludedPaths } from '../lib/file-list.ts'
import { commandLine, printResult, runTask } from '../lib/cli.ts'
import { OperationError } from '../lib/errors.ts'
import { flag, pathPattern } from '../lib/flags.ts'
import { runningSlugs } from '../lib/inventory.ts'
import { lockBottle } from '../lib/lock.ts'
import { runSteps } from '../lib/progress.ts'

await runTask({
  name: 'commit',
  summary: 'snapshot a running bottle without stopping it; resume and export use the snapshot',
  usage: '[SLUG] [--message TEXT] [--exclude PATH]... [--json]',
  flags: {
    message: flag.string('TEXT', 'a note kept with this snapshot in the history', { short: 'm' }),
    exclude: flag.repeated('PATH', "keep a path or glob out of this and every later snapshot (docker; added to the state dir's exclude file)", { parse: pathPattern }),
    json: flag.boolean('print {slug, snapshot, n} as JSON'),
  },
  examples: [
    { slug: 'dev-abc12' },
    { slug: 'dev-abc12', args: '--message "before the refactor"' },
    { slug: 'dev-abc12', args: "--exclude /root/.cache --exclude '**/node_modules/.cache'" },
    { slug: 'dev-abc12', args: '--json' },
  ],
  async run({ values, positionals }) {
    const slug = await chooseSlug(singleSlugArgument(positionals), runningSlugs, 'commit')
    const bottle = await loadBottle(slug)
    const backend = await backendFor(bottle.metadata)
    await lockBottle(slug)

    const exclude = await excludedPaths(slug, values.exclude)
    const context = await runSteps<CommitRecord>(commitSteps(backend, slug, values.message), { bottle, exclude }, { quiet: values.json }).catch(async (error: unknown) => {
      // Checked after a failure rather than before every commit: it costs an engine round trip.
      if ((await backend.status(slug)) !== 'running') {
        throw new OperationError(`bottle "${slug}" is not running: only a running bottle can be committed (resume it first)`)
      }
      throw error
    })

    printResult(values.json, { slug, backend: backend.name, snapshot: context.snapshotRef, n: context.entry?.n, ref: context.entry?.ref }, () =>
      [
        `Committed ${slug} to ${context.snapshotRef} (snapshot ${context.entry?.n}); the bottle is still running.`,
        `Resume it later:  ${commandLine('resume', { slug })}`,
        `Move it:          ${commandLine('export', { slug, args: `--output ${slug}.bottle` })}`,
        '',
      ].join('\n'),
    )
  },
})
