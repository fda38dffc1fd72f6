// watch: commit a running bottle on a schedule, only when something changed since its newest
// snapshot, and prune its history by a retention policy after each commit. Runs in the foreground
// until stopped (Ctrl-C, SIGTERM): a commit in flight finishes (or fails and leaves the history as
// it was) and the bottle's lock, held only while committing, is released.
import { backendFor } from '../lib/backends/index.ts'
import type { BottleBackend } from '../lib/backends/types.ts'
import { chooseSlug, loadBottle, singleSlugArgument } from '../lib/bottles.ts'
import { interrupt, runTask } from '../lib/cli.ts'
import { commitSteps, type CommitRecord } from '../lib/commit.ts'
import { excludedPaths } from '../lib/file-list.ts'
import { errorText, UsageError } from '../lib/errors.ts'
import { count, duration, flag } from '../lib/flags.ts'
import { readHistory, writeHistory, type SnapshotEntry } from '../lib/history.ts'
import { runningSlugs } from '../lib/inventory.ts'
import { lockBottle } from '../lib/lock.ts'
import { runSteps } from '../lib/progress.ts'
import { planPrune, retentionOf, type Retention } from '../lib/retention.ts'
import { readCommittedImage } from '../lib/state.ts'

await runTask({
  name: 'watch',
  summary: 'commit a running bottle every so often when something changed since its newest snapshot, pruning by a retention policy after each commit',
  usage: '[SLUG] (--every DURATION | --once) [--keep-last N] [--keep-hourly H] [--keep-daily D] [--json]',
  ownSignals: true,
  flags: {
    every: flag.string('DURATION', 'how often to look for changes: 30s, 10m, 1h30m, 1d (at least 1s)', { parse: duration() }),
    once: flag.boolean('look once (commit if something changed, prune) and exit: for a timer (systemd, launchd, cron)'),
    'keep-last': flag.string('N', 'after each commit, keep the newest N snapshots…', { parse: count() }),
    'keep-hourly': flag.string('H', '…and the newest of each of the last H hours that have one…', { parse: count() }),
    'keep-daily': flag.string('D', '…and the newest of each of the last D days that have one (without any --keep-*, nothing is pruned)', { parse: count() }),
    json: flag.boolean('a JSON line per snapshot made on stdout ({slug, n, ref, pruned}); no step list'),
  },
  examples: [{ slug: 'dev-abc12', args: '--every 10m' }, { slug: 'dev-abc12', args: '--every 10m --keep-last 6 --keep-hourly 24 --keep-daily 7' }, { slug: 'dev-abc12', args: '--once --keep-last 10' }],
  async run({ values, positionals }) {
    if ((values.every === undefined) === !values.once) throw new UsageError('give --every DURATION (watch until stopped) or --once (look once)')
    const given = { last: values['keep-last'], hourly: values['keep-hourly'], daily: values['keep-daily'] }
    const policy = Object.values(given).some((value) => value !== undefined) ? retentionOf(given) : undefined
    const slug = await chooseSlug(singleSlugArgument(positionals), runningSlugs, 'watch')
    const bottle = await loadBottle(slug)
    const backend = await backendFor(bottle.metadata)
    const stop = stopSignals()
    const say = sayOnce()

    say.always(values.once ? `looking at ${slug} once` : `watching ${slug}: a commit every ${spoken(values.every!)} when something changed${policy ? `, then ${describe(policy)}` : ''} (Ctrl-C stops)`)
    while (!stop.requested) {
      await turn(slug, backend, bottle, policy, values.json, say, stop)
      if (values.once) break
      await stop.sleep(values.every!)
    }
    say.always('stopped')
  },
})

type Say = ReturnType<typeof sayOnce>
type Stop = ReturnType<typeof stopSignals>

/** One look: wait while the engine or the bottle is down; commit and prune when something changed. */
async function turn(slug: string, backend: BottleBackend, bottle: CommitRecord['bottle'], policy: Retention | undefined, json: boolean, say: Say, stop: Stop): Promise<void> {
  let look: Awaited<ReturnType<BottleBackend['changedSince']>>
  let newest: SnapshotEntry | undefined
  try {
    const status = await backend.status(slug)
    if (status !== 'running') return say.once(`${slug} is ${status}: waiting for it to run again`)
    newest = (await readHistory(slug)).at(-1)
    look = newest ? await backend.changedSince(slug, { n: newest.n, ref: newest.ref, since: new Date(newest.capturedAt ?? newest.createdAt), changeSet: newest.changeSet }) : { changed: true }
  } catch (error) {
    return say.once(`cannot look at ${slug} (${errorText(error)}): waiting`)
  }
  if (look.changed === false) return say.always(`no change since snapshot ${newest!.n}`)
  if (look.changed === undefined) {
    say.once(newest?.changeSet === undefined && look.changeSet !== undefined ? `snapshot ${newest!.n} was not taken by watch (no record of what differed then): taking one to start from` : `cannot tell what changed in ${slug} since snapshot ${newest!.n}: committing on every turn`)
  }

  stop.busy = true
  let release: (() => Promise<void>) | undefined
  try {
    release = await lockBottle(slug)
    const made = await runSteps<CommitRecord>(commitSteps(backend, slug, 'watch', look.changeSet), { bottle, exclude: await excludedPaths(slug) }, { quiet: json })
    const pruned = policy ? await prune(slug, backend, policy) : []
    const { n, ref } = made.entry!
    process.stdout.write(json ? `${JSON.stringify({ slug, n, ref, pruned })}\n` : `Committed snapshot ${n} of ${slug} (${ref})${pruned.length ? `; pruned ${pruned.join(', ')}` : ''}\n`)
  } catch (error) {
    say.always(`no snapshot this turn: ${errorText(error)}`)
  } finally {
    await release?.()
    stop.busy = false
  }
}

/** The history by the policy, as `prune` does it; returns the numbers removed. */
async function prune(slug: string, backend: BottleBackend, policy: Retention): Promise<number[]> {
  const [snapshots, current] = await Promise.all([readHistory(slug), readCommittedImage(slug)])
  const { removed, survivors } = planPrune(snapshots, current, policy)
  if (removed.length === 0) return []
  await backend.removeSnapshots(removed.map((entry) => entry.ref))
  await writeHistory(slug, survivors)
  return removed.map((entry) => entry.n)
}

function spoken(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`
}

function describe(policy: Retention): string {
  const parts = [policy.last && `the newest ${policy.last}`, policy.hourly && `one an hour for ${policy.hourly} h`, policy.daily && `one a day for ${policy.daily} d`].filter(Boolean)
  return `keep ${parts.join(', ')}`
}

/** Lines on stderr, each stamped; `once` says a line only when it differs from the one said before. */
function sayOnce() {
  let last = ''
  const write = (line: string) => {
    last = line
    process.stderr.write(`watch: ${new Date().toISOString().replace('T', ' ').slice(0, 19)} ${line}\n`)
  }
  return { always: write, once: (line: string) => void (line !== last && write(line)) }
}

/**
 * SIGINT or SIGTERM ends the watch after the turn in flight (at once between turns); a second one
 * interrupts as every task is interrupted (temporary resources removed, exit 130).
 */
function stopSignals() {
  let wake = () => {}
  const stop = {
    requested: false,
    busy: false,
    sleep: (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms)
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      }),
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stop.requested) return interrupt('watch')
      stop.requested = true
      if (stop.busy) process.stderr.write(`watch: ${signal}: stopping once this commit is done (again to interrupt it)\n`)
      wake()
    })
  }
  return stop
}
