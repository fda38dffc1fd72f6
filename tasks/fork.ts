// fork: start a new running bottle from a snapshot of another (or N of them side by side, for
// best-of-N agent runs): each a new slug, its own state, history and copies of the named volumes;
// the same sandbox (networks, limits, mounts, sidecars).
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { backendFor } from '../lib/backends/index.ts'
import { chooseSlug, loadBottle, singleSlugArgument } from '../lib/bottles.ts'
import { printResult, runTask } from '../lib/cli.ts'
import { errorText, OperationError, UsageError } from '../lib/errors.ts'
import { count, flag } from '../lib/flags.ts'
import { findSnapshot, readHistory, recordSnapshot } from '../lib/history.ts'
import { committedSlugs, inventory } from '../lib/inventory.ts'
import { lockBottle } from '../lib/lock.ts'
import { runSteps, runStepsInline, type Step } from '../lib/progress.ts'
import { holdToOrigin, readOrigin, writeOrigin } from '../lib/origin.ts'
import { parseRelax, refuseUnrecorded, runConfigOf, type BackendRun } from '../lib/run-config.ts'
import { newSlug, verifySlug } from '../lib/slug.ts'
import { FILES, hasState, installStateDir, readCommittedImage, readRunConfig } from '../lib/state.ts'

/** More at once is a mistake more often than a plan: each is a running bottle with its own volumes. */
const MAX_FORKS = 64

await runTask({
  name: 'fork',
  summary: 'start a new bottle from a snapshot of another, or N side by side (same content and sandbox, each its own slug, state, history and volumes)',
  usage: '[SLUG] (--as NEW_SLUG | --count N [--as PREFIX]) [--snapshot N] [--relax PROPERTY] [--json]',
  flags: {
    as: flag.string('NEW_SLUG', 'the new bottle (with --count: PREFIX, the forks are PREFIX-1 … PREFIX-N)', { parse: (raw) => verifySlug(raw) }),
    count: flag.string('N', `start N forks side by side (≤ ${MAX_FORKS}); without --as their slugs are AGENT-xxxxx, as start chooses`, { parse: count() }),
    snapshot: flag.string('N', 'fork snapshot N of the history (default: the newest)', { parse: count() }),
    relax: flag.repeated('PROPERTY', 'accept a weaker bottle where this host cannot reproduce it (as for resume)', { parse: parseRelax }),
    json: flag.boolean('print {slug, from, snapshot} as JSON (with --count: {from, snapshot, forks: [{slug, …}]})'),
  },
  examples: [{ slug: 'dev-abc12', args: '--as dev-try02' }, { slug: 'dev-abc12', args: '--as dev-old01 --snapshot 1' }, { slug: 'dev-abc12', args: '--count 5' }],
  async run({ values, positionals }) {
    const many = values.count !== undefined
    if (values.as === undefined && !many) throw new UsageError('--as NEW_SLUG (or --count N) is required')
    if (many && values.count! > MAX_FORKS) throw new UsageError(`--count ${values.count} is more than ${MAX_FORKS} forks at once`)
    const slug = await chooseSlug(singleSlugArgument(positionals), committedSlugs, 'fork')
    const source = await loadBottle(slug)
    const existing = new Set((await inventory()).map((row) => row.slug))
    const taken = (candidate: string) => candidate === slug || hasState(candidate) || existing.has(candidate)
    const forks = many ? forkSlugs(values.count!, values.as, source.metadata.agent_name, taken) : [values.as!]
    if (forks.includes(slug)) throw new UsageError('--as must name a new bottle, not the one forked')
    const clash = forks.find(taken)
    if (clash) throw new UsageError(`bottle "${clash}" already exists: choose another --as`)
    const earlier = values.snapshot === undefined ? undefined : findSnapshot(slug, await readHistory(slug), values.snapshot)
    const from = earlier?.ref ?? (await readCommittedImage(slug))
    if (!from) throw new OperationError(`bottle "${slug}" has no snapshot yet: commit it first`)
    const backend = await backendFor(source.metadata)
    await lockBottle(slug)
    for (const fork of forks) await lockBottle(fork)
    const relax = new Set(values.relax.flat())

    // A fork of a bottle from elsewhere is from there too: the same allowances, its own volumes.
    const origin = await readOrigin(slug)
    const shared: { run?: BackendRun } = {}
    const check: Step<object> = {
      title: `Check the snapshot ${from} and how ${slug} ran`,
      run: async () => {
        if (!(await backend.snapshotExists(from))) throw new OperationError(`snapshot ${from} is gone from this host`)
        shared.run = (earlier ? undefined : (await readRunConfig(slug))?.run) ?? (await backend.runOfSnapshot(from))
        refuseUnrecorded(shared.run, relax)
      },
    }
    const started = forks.map((fork) => ({ slug: fork, relaxed: [] as string[], leftOut: [] as string[], failure: undefined as unknown }))
    const stepsOf = (outcome: (typeof started)[number]): Step<object>[] => {
      const fork = outcome.slug
      const bottle = { slug: fork, metadata: { ...source.metadata, identity: fork, started_at: new Date().toISOString() } }
      const context: { snapshot?: string; run?: BackendRun } = {}
      return [
        {
          title: `Give ${fork} its own copy of the snapshot, the volumes and the state`,
          run: async () => {
            context.snapshot = await installStateDir(
              fork,
              bottle.metadata,
              async (staged) => {
                // The run first: what a backend cannot give the fork is refused before anything is copied.
                if (shared.run) {
                  context.run = await backend.forkRun(shared.run, source, fork, staged, from)
                  await writeFile(join(staged, FILES.runConfig), `${JSON.stringify(runConfigOf(context.run), null, 2)}\n`)
                }
                if (origin) await writeOrigin(staged, origin)
                return backend.copySnapshot(from, fork, staged)
              },
              false,
            )
            await recordSnapshot(backend, fork, context.snapshot, { message: `forked from ${slug} (${from})`, bases: [from] })
          },
        },
        {
          title: `Boot ${fork} as ${slug} ran`,
          run: async (_ctx, report) => {
            const { run, held, leftOut } = await holdToOrigin(fork, context.run, report)
            outcome.leftOut = leftOut
            outcome.relaxed = await backend.boot(bottle, context.snapshot!, { run, relax, report, ...(held ? { held } : {}) })
          },
        },
        { title: 'Re-initialise /tmp and /var/tmp (mode 1777)', run: () => backend.initTempDirs(fork) },
      ]
    }

    if (!many) {
      await runSteps([check, ...stepsOf(started[0]!)], {}, { quiet: values.json })
      const [only] = started
      printResult(values.json, { slug: only!.slug, from: slug, snapshot: from, relaxed: only!.relaxed, leftOut: only!.leftOut }, () => `${only!.slug}\n`)
      return
    }
    await runSteps([check], {}, { quiet: values.json })
    // Side by side, each to its end: one fork that cannot boot does not stop the others.
    await runSteps(
      started.map((outcome) => ({
        title: `Fork ${outcome.slug}`,
        run: (_ctx, report) =>
          runStepsInline(stepsOf(outcome), {}, report).then(
            () => {},
            (error: unknown) => {
              outcome.failure = error
              throw error
            },
          ),
      })),
      {},
      { quiet: values.json, concurrent: true },
    )
    const running = started.filter((outcome) => outcome.failure === undefined)
    printResult(values.json, { from: slug, snapshot: from, forks: running.map(({ failure: _, ...fork }) => fork) }, () => running.map((fork) => `${fork.slug}\n`).join(''))
    const failed = started.filter((outcome) => outcome.failure !== undefined)
    if (failed.length > 0) {
      throw new OperationError(`${failed.length} of ${forks.length} forks failed (${failed.map((outcome) => `${outcome.slug}: ${errorText(outcome.failure)}`).join('; ')})${running.length > 0 ? `; running: ${running.map((fork) => fork.slug).join(', ')}` : ''}`)
    }
  },
})

/** N new slugs: PREFIX-1 … PREFIX-N, or AGENT-xxxxx as start chooses them, none of them taken. */
function forkSlugs(n: number, prefix: string | undefined, agent: string, taken: (slug: string) => boolean): string[] {
  if (prefix !== undefined) return Array.from({ length: n }, (_, i) => verifySlug(`${prefix}-${i + 1}`))
  const chosen = new Set<string>()
  while (chosen.size < n) {
    const candidate = verifySlug(newSlug(agent || 'fork'))
    if (!taken(candidate)) chosen.add(candidate)
  }
  return [...chosen]
}
