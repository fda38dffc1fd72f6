// fork: start a new running bottle from a snapshot of another: a new slug, its own state and history.
import { backendFor } from '../lib/backends/index.ts'
import { chooseSlug, loadBottle, singleSlugArgument } from '../lib/bottles.ts'
import { OperationError, UsageError, printResult, runTask } from '../lib/cli.ts'
import { findSnapshot, parseCount, readHistory, recordSnapshot } from '../lib/history.ts'
import { committedSlugs, inventory } from '../lib/inventory.ts'
import { lockBottle } from '../lib/lock.ts'
import { runSteps } from '../lib/progress.ts'
import { verifySlug } from '../lib/slug.ts'
import { hasState, installStateDir, readCommittedImage } from '../lib/state.ts'

await runTask({
  name: 'fork',
  summary: 'start a new bottle from a snapshot of another (same content, its own slug, state and history)',
  usage: 'tsx tasks/fork.ts [SLUG] --as NEW_SLUG [--snapshot N] [--json]',
  flags: ['--as NEW_SLUG        the new bottle', '--snapshot N         fork snapshot N of the history (default: the newest)', '--json               print {slug, from, snapshot} as JSON'],
  examples: ['task fork SLUG=dev-abc12 -- --as dev-try02', 'task fork SLUG=dev-abc12 -- --as dev-old01 --snapshot 1'],
  options: { as: { type: 'string' }, snapshot: { type: 'string' }, json: { type: 'boolean' } },
  async run({ values, positionals }) {
    if (values.as === undefined) throw new UsageError('--as NEW_SLUG is required')
    const fork = verifySlug(values.as)
    const chosen = parseCount('--snapshot', values.snapshot)
    const slug = await chooseSlug(singleSlugArgument(positionals), committedSlugs, 'fork')
    const source = await loadBottle(slug)
    if (fork === slug) throw new UsageError('--as must name a new bottle, not the one forked')
    if (hasState(fork) || (await inventory()).some((row) => row.slug === fork)) throw new UsageError(`bottle "${fork}" already exists: choose another --as`)
    const from = chosen === undefined ? await readCommittedImage(slug) : findSnapshot(slug, await readHistory(slug), chosen).ref
    if (!from) throw new OperationError(`bottle "${slug}" has no snapshot yet: commit it first (task commit SLUG=${slug})`)
    const backend = backendFor(source.metadata)
    await lockBottle(slug)
    await lockBottle(fork)
    const bottle = { slug: fork, metadata: { ...source.metadata, identity: fork, started_at: new Date().toISOString() } }

    const context: { snapshot?: string } = {}
    await runSteps(
      [
        {
          title: `Check the snapshot ${from}`,
          run: async () => {
            if (!(await backend.snapshotExists(from))) throw new OperationError(`snapshot ${from} is gone from this host`)
          },
        },
        {
          title: `Give ${fork} its own copy of the snapshot and state`,
          run: async () => {
            context.snapshot = await installStateDir(fork, bottle.metadata, (staged) => backend.copySnapshot(from, fork, staged), false)
            await recordSnapshot(backend, fork, context.snapshot, `forked from ${slug} (${from})`)
          },
        },
        { title: `Boot ${fork}`, run: (_ctx, report) => backend.boot(bottle, context.snapshot!, report) },
        { title: 'Re-initialise /tmp and /var/tmp (mode 1777)', run: () => backend.initTempDirs(fork) },
      ],
      {},
      { quiet: values.json },
    )
    printResult(values.json, { slug: fork, from: slug, snapshot: from }, () => `${fork}\n`)
  },
})
