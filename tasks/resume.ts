// resume: boot a bottle from its snapshot (or a rebuild), as it ran: its networks, runtime,
// capabilities, limits, mounts and volumes, and sidecars. What cannot be reproduced is refused.
import { backendFor, type Bottle } from '../lib/backends/index.ts'
import { chooseSlug, loadBottle, singleSlugArgument } from '../lib/bottles.ts'
import { commandLine, printResult, runTask } from '../lib/cli.ts'
import { OperationError, UsageError } from '../lib/errors.ts'
import { count, flag } from '../lib/flags.ts'
import { findSnapshot, readHistory } from '../lib/history.ts'
import { resumableSlugs } from '../lib/inventory.ts'
import { lockBottle } from '../lib/lock.ts'
import { runSteps } from '../lib/progress.ts'
import { holdToOrigin } from '../lib/origin.ts'
import { parseRelax, RELAX_KEYS, type BackendRun } from '../lib/run-config.ts'
import { interactive } from '../lib/shell.ts'
import { readCommittedImage, readRunConfig, writeMetadata } from '../lib/state.ts'

interface ResumeContext {
  bottle: Bottle
  /** The image the bottle boots from: its snapshot, or a rebuild. */
  source?: string
  how?: 'snapshot' | 'rebuilt' | 'restarted'
  run?: BackendRun
  relaxed: string[]
  /** A bottle from elsewhere: what it asked for and was not allowed. */
  leftOut: string[]
}

await runTask({
  name: 'resume',
  summary: 'boot a bottle from its snapshot as it ran (rebuilding only when the snapshot is gone)',
  usage: '[SLUG] [--snapshot N] [--relax PROPERTY] [--attach] [--json]',
  flags: {
    snapshot: flag.string('N', 'boot snapshot N of the history (list SLUG shows them) instead of the newest', { parse: count() }),
    relax: flag.repeated('PROPERTY', `accept a weaker bottle where this host cannot reproduce it: ${Object.keys(RELAX_KEYS).join(', ')} (repeatable)`, { parse: parseRelax }),
    attach: flag.boolean('open a shell in the bottle once it runs'),
    json: flag.boolean('print {slug, status, how, source, relaxed} as JSON'),
  },
  examples: [{ slug: 'dev-abc12' }, { slug: 'dev-abc12', args: '--snapshot 2' }, { slug: 'dev-abc12', args: '--relax runtime' }, { slug: 'dev-abc12', args: '--attach' }],
  async run({ values, positionals }) {
    if (values.attach && !(process.stdin.isTTY && process.stdout.isTTY)) throw new UsageError('--attach needs a terminal')
    const relax = new Set(values.relax.flat())
    const slug = await chooseSlug(singleSlugArgument(positionals), resumableSlugs, 'resume')
    const bottle = await loadBottle(slug)
    const earlier = values.snapshot === undefined ? undefined : findSnapshot(slug, await readHistory(slug), values.snapshot)
    const backend = await backendFor(bottle.metadata)
    const status = await backend.status(slug)
    if (earlier && status !== 'absent') {
      throw new UsageError(`bottle "${slug}" is ${status}: remove it first (${commandLine('cleanup', { slug })}), then resume --snapshot ${earlier.n}`)
    }

    await lockBottle(slug)
    if (status === 'running') {
      printResult(values.json, { slug, status: 'already-running' }, () => `${slug} is already running; nothing to do.\n`)
    } else {
      const { source, how, relaxed, leftOut } = await runSteps<ResumeContext>(
        [
          {
            title: 'Start the existing stopped bottle (it is newer than any snapshot)',
            enabled: () => status === 'stopped',
            run: async (context) => {
              await backend.restart(slug)
              context.how = 'restarted'
            },
          },
          {
            title: 'Look for the snapshot and how the bottle ran',
            enabled: () => status === 'absent',
            run: async (context, report) => {
              const snapshot = earlier?.ref ?? (await readCommittedImage(slug))
              if (earlier && !(await backend.snapshotExists(earlier.ref))) throw new OperationError(`snapshot ${earlier.n} (${earlier.ref}) is gone from this host`)
              if (snapshot && (await backend.snapshotExists(snapshot))) {
                Object.assign(context, { source: snapshot, how: 'snapshot' })
              } else {
                report(snapshot ? `${snapshot} is gone: rebuilding` : 'no snapshot recorded: rebuilding')
              }
              // An earlier snapshot ran as its own label says; the newest as the state dir says.
              const recorded = earlier ? await backend.runOfSnapshot(earlier.ref) : (await readRunConfig(slug))?.run
              context.run = recorded ?? (context.source ? await backend.runOfSnapshot(context.source) : undefined)
            },
          },
          {
            title: 'Rebuild the bottle (per-bottle Dockerfile, else its original image)',
            enabled: () => status === 'absent',
            skip: (context) => (context.source ? `booting from snapshot ${context.source}` : false),
            run: async (context) => {
              Object.assign(context, { source: await backend.rebuild(bottle), how: 'rebuilt' })
            },
          },
          {
            title: 'Boot the bottle as it ran (networks, limits, mounts, sidecars; a bottle from elsewhere held to what was allowed)',
            enabled: () => status === 'absent',
            run: async (context, report) => {
              const { run, held, leftOut } = await holdToOrigin(slug, context.run, report)
              context.leftOut = leftOut
              context.relaxed = await backend.boot(bottle, context.source!, { run, rebuilt: context.how === 'rebuilt', relax, report, ...(held ? { held } : {}) })
            },
          },
          { title: 'Re-initialise /tmp and /var/tmp (mode 1777)', run: () => backend.initTempDirs(slug) },
          {
            title: 'Record the start time',
            run: () => writeMetadata(slug, { ...bottle.metadata, started_at: new Date().toISOString() }),
          },
        ],
        { bottle, relaxed: [], leftOut: [] },
        { quiet: values.json },
      )
      printResult(values.json, { slug, status: 'running', how, source: source ?? null, relaxed, leftOut }, () =>
        [
          how === 'restarted' ? `Restarted ${slug}.` : `Resumed ${slug} from ${how === 'snapshot' ? 'its snapshot' : 'a rebuild'} ${source}.`,
          ...relaxed.map((line) => `Relaxed at your request (weaker than it ran): ${line}`),
          ...(leftOut.length ? [`From elsewhere, held to what you allowed at import; left out: ${leftOut.join(' ')}`] : []),
          '',
        ].join('\n'),
      )
    }

    if (values.attach) {
      await interactive(backend.shellCommand(slug))
    }
  },
})
