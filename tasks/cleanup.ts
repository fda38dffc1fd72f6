// cleanup: stop and remove bottles and their leftovers; keep the state of preserved (committed) bottles.
import { backendNamed } from '../lib/backends/index.ts'
import { singleSlugArgument } from '../lib/bottles.ts'
import { UsageError, printResult, runTask } from '../lib/cli.ts'
import { inventory, type BottleRow } from '../lib/inventory.ts'
import { lockBottle } from '../lib/lock.ts'
import { runSteps, type Step } from '../lib/progress.ts'
import { verifySlug } from '../lib/slug.ts'
import { findOrphans, removeOrphan, type Orphan } from '../lib/orphans.ts'
import { hasState, removeStateDir } from '../lib/state.ts'

interface Action {
  slug: string
  what: 'remove-bottle' | 'remove-state' | 'keep-state' | 'remove-orphan'
  why: string
  orphan?: Orphan
}

await runTask({
  name: 'cleanup',
  summary: 'stop and remove bottles; remove their state unless preserved by a commit, and what crashed tasks left',
  usage: 'tsx tasks/cleanup.ts [SLUG] [--dry-run] [--json]',
  flags: ['--dry-run            print what would be done, do nothing', '--json               print the actions as JSON'],
  examples: ['task cleanup', 'task cleanup SLUG=dev-abc12', 'task cleanup -- --dry-run'],
  options: { 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } },
  async run({ values, positionals }) {
    const only = singleSlugArgument(positionals)
    if (only !== undefined) verifySlug(only)
    const rows = (await inventory()).filter((row) => only === undefined || row.slug === only)
    if (only !== undefined && rows.length === 0) throw new UsageError(`unknown bottle "${only}": no container and no state dir`)
    const actions = rows.flatMap(plan)
    // Leftovers of crashed tasks belong to no one bottle: a full cleanup takes them too.
    if (only === undefined) {
      for (const orphan of await findOrphans()) actions.push({ slug: orphan.name, what: 'remove-orphan', why: `${orphan.kind} left by a crashed task (pid ${orphan.pid})`, orphan })
    }

    if (!values['dry-run']) {
      const steps: Step<object>[] = actions
        .filter((action) => action.what !== 'keep-state')
        .map((action) => ({
          title: `${action.what === 'remove-state' ? 'Remove state dir of' : action.what === 'remove-bottle' ? 'Remove bottle' : 'Remove'} ${action.slug}`,
          run: () => (action.orphan ? removeOrphan(action.orphan) : perform(action, rows.find((row) => row.slug === action.slug)!)),
        }))
      await runSteps(steps, {}, { quiet: values.json })
    }
    printResult(values.json, { dryRun: Boolean(values['dry-run']), actions }, () => describe(actions, Boolean(values['dry-run'])))
  },
})

function plan(row: BottleRow): Action[] {
  const actions: Action[] = []
  if (row.status !== 'absent') actions.push({ slug: row.slug, what: 'remove-bottle', why: `container is ${row.status}` })
  if (hasState(row.slug) || row.problem) {
    actions.push(
      row.preserved
        ? { slug: row.slug, what: 'keep-state', why: `preserved by a commit (${row.snapshot ?? 'snapshot'})` }
        : { slug: row.slug, what: 'remove-state', why: 'not preserved' },
    )
  }
  return actions
}

async function perform(action: Action, row: BottleRow): Promise<void> {
  await lockBottle(action.slug)
  if (action.what === 'remove-state') return removeStateDir(action.slug)
  // A container without readable state was found by the docker backend's listing.
  await backendNamed(row.backend === 'unknown' ? 'docker' : row.backend).remove(action.slug)
}

function describe(actions: Action[], dryRun: boolean): string {
  if (actions.length === 0) return 'Nothing to clean up.\n'
  const verb = {
    'remove-bottle': dryRun ? 'would remove bottle' : 'removed bottle',
    'remove-state': dryRun ? 'would remove state of' : 'removed state of',
    'keep-state': 'kept state of',
    'remove-orphan': dryRun ? 'would remove' : 'removed',
  }
  return actions.map((action) => `${verb[action.what]} ${action.slug} (${action.why})`).join('\n') + '\n'
}
