// fork: start a new running bottle from a snapshot of another: a new slug, its own state, history
// and copies of the named volumes; the same sandbox (networks, limits, mounts, sidecars).
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { backendFor } from '../lib/backends/index.ts'
import { chooseSlug, loadBottle, singleSlugArgument } from '../lib/bottles.ts'
import { printResult, runTask } from '../lib/cli.ts'
import { OperationError, UsageError } from '../lib/errors.ts'
import { count, flag } from '../lib/flags.ts'
import { findSnapshot, readHistory, recordSnapshot } from '../lib/history.ts'
import { committedSlugs, inventory } from '../lib/inventory.ts'
import { lockBottle } from '../lib/lock.ts'
import { runSteps } from '../lib/progress.ts'
import { holdToOrigin, readOrigin, writeOrigin } from '../lib/origin.ts'
import { parseRelax, refuseUnrecorded, runConfigOf, type BackendRun } from '../lib/run-config.ts'
import { verifySlug } from '../lib/slug.ts'
import { FILES, hasState, installStateDir, readCommittedImage, readRunConfig } from '../lib/state.ts'

await runTask({
  name: 'fork',
  summary: 'start a new bottle from a snapshot of another (same content and sandbox, its own slug, state, history and volumes)',
  usage: '[SLUG] --as NEW_SLUG [--snapshot N] [--relax PROPERTY] [--json]',
  flags: {
    as: flag.string('NEW_SLUG', 'the new bottle', { parse: (raw) => verifySlug(raw) }),
    snapshot: flag.string('N', 'fork snapshot N of the history (default: the newest)', { parse: count() }),
    relax: flag.repeated('PROPERTY', 'accept a weaker bottle where this host cannot reproduce it (as for resume)', { parse: parseRelax }),
    json: flag.boolean('print {slug, from, snapshot} as JSON'),
  },
  examples: [{ slug: 'dev-abc12', args: '--as dev-try02' }, { slug: 'dev-abc12', args: '--as dev-old01 --snapshot 1' }],
  async run({ values, positionals }) {
    const fork = values.as
    if (fork === undefined) throw new UsageError('--as NEW_SLUG is required')
    const slug = await chooseSlug(singleSlugArgument(positionals), committedSlugs, 'fork')
    const source = await loadBottle(slug)
    if (fork === slug) throw new UsageError('--as must name a new bottle, not the one forked')
    if (hasState(fork) || (await inventory()).some((row) => row.slug === fork)) throw new UsageError(`bottle "${fork}" already exists: choose another --as`)
    const earlier = values.snapshot === undefined ? undefined : findSnapshot(slug, await readHistory(slug), values.snapshot)
    const from = earlier?.ref ?? (await readCommittedImage(slug))
    if (!from) throw new OperationError(`bottle "${slug}" has no snapshot yet: commit it first`)
    const backend = await backendFor(source.metadata)
    await lockBottle(slug)
    await lockBottle(fork)
    const bottle = { slug: fork, metadata: { ...source.metadata, identity: fork, started_at: new Date().toISOString() } }
    const relax = new Set(values.relax.flat())

    // A fork of a bottle from elsewhere is from there too: the same allowances, its own volumes.
    const origin = await readOrigin(slug)
    const context: { snapshot?: string; run?: BackendRun; relaxed: string[]; leftOut: string[] } = { relaxed: [], leftOut: [] }
    await runSteps(
      [
        {
          title: `Check the snapshot ${from} and how ${slug} ran`,
          run: async () => {
            if (!(await backend.snapshotExists(from))) throw new OperationError(`snapshot ${from} is gone from this host`)
            context.run = (earlier ? undefined : (await readRunConfig(slug))?.run) ?? (await backend.runOfSnapshot(from))
            refuseUnrecorded(context.run, relax)
          },
        },
        {
          title: `Give ${fork} its own copy of the snapshot, the volumes and the state`,
          run: async () => {
            context.snapshot = await installStateDir(
              fork,
              bottle.metadata,
              async (staged) => {
                // The run first: what a backend cannot give the fork is refused before anything is copied.
                if (context.run) {
                  context.run = await backend.forkRun(context.run, source, fork, staged, from)
                  await writeFile(join(staged, FILES.runConfig), `${JSON.stringify(runConfigOf(context.run), null, 2)}\n`)
                }
                if (origin) await writeOrigin(staged, origin)
                return backend.copySnapshot(from, fork, staged)
              },
              false,
            )
            await recordSnapshot(backend, fork, context.snapshot, `forked from ${slug} (${from})`)
          },
        },
        {
          title: `Boot ${fork} as ${slug} ran`,
          run: async (_ctx, report) => {
            const { run, held, leftOut } = await holdToOrigin(fork, context.run, report)
            context.leftOut = leftOut
            context.relaxed = await backend.boot(bottle, context.snapshot!, { run, relax, report, ...(held ? { held } : {}) })
          },
        },
        { title: 'Re-initialise /tmp and /var/tmp (mode 1777)', run: () => backend.initTempDirs(fork) },
      ],
      {},
      { quiet: values.json },
    )
    printResult(values.json, { slug: fork, from: slug, snapshot: from, relaxed: context.relaxed, leftOut: context.leftOut }, () => `${fork}\n`)
  },
})
