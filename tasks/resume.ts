// resume: boot a bottle from its snapshot, or rebuild it when the snapshot is gone.
import { spawnSync } from 'node:child_process'
import { backendFor, type Bottle } from '../lib/backends/index.ts'
import { chooseSlug, loadBottle, singleSlugArgument } from '../lib/bottles.ts'
import { OperationError, UsageError, printResult, runTask } from '../lib/cli.ts'
import { findSnapshot, parseCount, readHistory } from '../lib/history.ts'
import { resumableSlugs } from '../lib/inventory.ts'
import { lockBottle } from '../lib/lock.ts'
import { runSteps } from '../lib/progress.ts'
import { readCommittedImage, writeMetadata } from '../lib/state.ts'

interface ResumeContext {
  bottle: Bottle
  /** The image the bottle boots from: its snapshot, or a rebuild. */
  source?: string
  how?: 'snapshot' | 'rebuilt' | 'restarted'
}

await runTask({
  name: 'resume',
  summary: 'boot a bottle from its snapshot (rebuilding only when the snapshot is gone)',
  usage: 'tsx tasks/resume.ts [SLUG] [--snapshot N] [--attach] [--json]',
  flags: [
    '--snapshot N         boot snapshot N of the history (task list SLUG=... shows them) instead of the newest',
    '--attach             open a shell in the bottle once it runs',
    '--json               print {slug, status, source} as JSON',
  ],
  examples: ['task resume SLUG=dev-abc12', 'task resume SLUG=dev-abc12 -- --snapshot 2', 'task resume SLUG=dev-abc12 -- --attach'],
  options: { snapshot: { type: 'string' }, attach: { type: 'boolean' }, json: { type: 'boolean' } },
  async run({ values, positionals }) {
    if (values.attach && !(process.stdin.isTTY && process.stdout.isTTY)) throw new UsageError('--attach needs a terminal')
    const slug = await chooseSlug(singleSlugArgument(positionals), resumableSlugs, 'resume')
    const bottle = await loadBottle(slug)
    const chosen = parseCount('--snapshot', values.snapshot)
    const earlier = chosen === undefined ? undefined : findSnapshot(slug, await readHistory(slug), chosen)
    const backend = backendFor(bottle.metadata)
    const status = await backend.status(slug)
    if (earlier && status !== 'absent') {
      throw new UsageError(`bottle "${slug}" is ${status}: remove it first (task cleanup SLUG=${slug}), then resume --snapshot ${chosen}`)
    }

    await lockBottle(slug)
    if (status === 'running') {
      printResult(values.json, { slug, status: 'already-running' }, () => `${slug} is already running; nothing to do.\n`)
    } else {
      const { source, how } = await runSteps<ResumeContext>(
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
            title: 'Look for the snapshot',
            enabled: () => status === 'absent',
            run: async (context, report) => {
              const snapshot = earlier?.ref ?? (await readCommittedImage(slug))
              if (earlier && !(await backend.snapshotExists(earlier.ref))) throw new OperationError(`snapshot ${earlier.n} (${earlier.ref}) is gone from this host`)
              if (snapshot && (await backend.snapshotExists(snapshot))) {
                Object.assign(context, { source: snapshot, how: 'snapshot' })
              } else {
                report(snapshot ? `${snapshot} is gone: rebuilding` : 'no snapshot recorded: rebuilding')
              }
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
            title: 'Boot the bottle',
            enabled: () => status === 'absent',
            run: (context, report) => backend.boot(bottle, context.source!, report),
          },
          { title: 'Re-initialise /tmp and /var/tmp (mode 1777)', run: () => backend.initTempDirs(slug) },
          {
            title: 'Record the start time',
            run: () => writeMetadata(slug, { ...bottle.metadata, started_at: new Date().toISOString() }),
          },
        ],
        { bottle },
        { quiet: values.json },
      )
      printResult(values.json, { slug, status: 'running', how, source: source ?? null }, () =>
        how === 'restarted' ? `Restarted ${slug}.\n` : `Resumed ${slug} from ${how === 'snapshot' ? 'its snapshot' : 'a rebuild'} ${source}.\n`,
      )
    }

    if (values.attach) {
      const [command, ...args] = backend.shellCommand(slug)
      spawnSync(command, args, { stdio: 'inherit' })
    }
  },
})
