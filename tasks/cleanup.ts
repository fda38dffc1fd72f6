// cleanup: stop and remove bottles (a compose bottle with all its sidecars) and their leftovers;
// keep the state of preserved (committed) bottles. Named volumes are never removed.
import { backendNamed } from '../lib/backends/index.ts'
import { singleSlugArgument } from '../lib/bottles.ts'
import { printResult, runTask } from '../lib/cli.ts'
import { UsageError } from '../lib/errors.ts'
import { flag } from '../lib/flags.ts'
import { inventory, type BottleRow } from '../lib/inventory.ts'
import { lockBottle } from '../lib/lock.ts'
import { findOrphans, removeOrphan, type Orphan } from '../lib/orphans.ts'
import { runSteps, type Step } from '../lib/progress.ts'
import { verifySlug } from '../lib/slug.ts'
import { hasState, removeStateDir, type Backend } from '../lib/state.ts'

interface Action {
  slug: string
  what: 'remove-bottle' | 'remove-state' | 'keep-state' | 'remove-orphan'
  why: string
}

await runTask({
  name: 'cleanup',
  summary: 'stop and remove bottles (with their sidecars); remove their state unless preserved by a commit, and what crashed tasks left',
  usage: '[SLUG] [--dry-run] [--json]',
  flags: {
    'dry-run': flag.boolean('print what would be done, do nothing'),
    json: flag.boolean('print the actions as JSON'),
  },
  examples: [{}, { slug: 'dev-abc12' }, { args: '--dry-run' }],
  async run({ values, positionals }) {
    const only = singleSlugArgument(positionals)
    if (only !== undefined) verifySlug(only)
    const rows = (await inventory()).filter((row) => only === undefined || row.slug === only)
    if (only !== undefined && rows.length === 0) throw new UsageError(`unknown bottle "${only}": no container and no state dir`)
    // Leftovers of crashed tasks belong to no one bottle: a full cleanup takes them too.
    const orphans = only === undefined ? await findOrphans() : []
    const actions = [...rows.flatMap(plan), ...orphans.map((orphan): Action => ({ slug: orphan.name, what: 'remove-orphan', why: `${orphan.kind} left by a crashed task (pid ${orphan.pid})` }))]

    if (!values['dry-run']) {
      const steps: Step<object>[] = [
        ...rows.flatMap(stepsFor),
        ...orphans.map((orphan: Orphan) => ({ title: `Remove ${orphan.name}`, run: () => removeOrphan(orphan) })),
      ]
      await runSteps(steps, {}, { quiet: values.json })
    }
    printResult(values.json, { dryRun: values['dry-run'], actions }, () => describe(actions, values['dry-run']))
  },
})

function hasBottle(row: BottleRow): row is BottleRow & { backend: Backend } {
  return (row.status !== 'absent' || Boolean(row.leftovers)) && row.backend !== 'unknown'
}

function plan(row: BottleRow): Action[] {
  const actions: Action[] = []
  if (hasBottle(row)) actions.push({ slug: row.slug, what: 'remove-bottle', why: row.leftovers ? 'its sidecars are left in the engine' : `container is ${row.status}` })
  if (hasState(row.slug) || row.problem) {
    actions.push(
      row.preserved
        ? { slug: row.slug, what: 'keep-state', why: `preserved by a commit (${row.snapshot ?? 'snapshot'})` }
        : { slug: row.slug, what: 'remove-state', why: 'not preserved' },
    )
  }
  return actions
}

function stepsFor(row: BottleRow): Step<object>[] {
  const list: Step<object>[] = []
  if (hasBottle(row)) {
    list.push({
      title: `Remove bottle ${row.slug}`,
      run: async () => {
        await lockBottle(row.slug)
        await (await backendNamed(row.backend)).remove(row.slug)
      },
    })
  }
  if ((hasState(row.slug) || row.problem) && !row.preserved) {
    list.push({
      title: `Remove state dir of ${row.slug}`,
      run: async () => {
        await lockBottle(row.slug)
        await removeStateDir(row.slug)
      },
    })
  }
  return list
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
