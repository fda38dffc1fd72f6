// Step-by-step progress, rendered by listr2: its live renderer on a terminal, its simple renderer
// (a plain line per step and per message: ❯ started, › said, ✔ done, ↓ skipped, ✖ failed) in CI and
// pipes, nothing with --json. Progress always goes to stderr so stdout stays machine-readable
// (slugs, --json).
import type { ListrTask } from 'listr2'
import { StepError } from './errors.ts'
import { formatProgress } from './format.ts'

export interface Step<Context> {
  title: string
  /** false when the step does not apply to this bottle (hidden). */
  enabled?: (context: Context) => boolean
  /** A reason to skip (shown to the user), or false to run. */
  skip?: (context: Context) => string | false
  run: (context: Context, report: (message: string) => void) => Promise<void> | void
}

export function isInteractiveTerminal(): boolean {
  return Boolean(process.stderr.isTTY) && !process.env.CI && process.env.TERM !== 'dumb'
}

/**
 * Run the steps in order; a failure becomes a StepError naming its step. `concurrent`: side by
 * side instead, each to its end whatever the others do (the caller asks each how it ended).
 */
export async function runSteps<Context extends object>(steps: Step<Context>[], context: Context, options: { quiet?: boolean; concurrent?: boolean } = {}): Promise<Context> {
  // --json: nothing is rendered, so listr2 is not even loaded (it costs a task 20-35 ms).
  if (options.quiet && options.concurrent) {
    await Promise.allSettled(steps.map((step) => runStepsInline([step], context, () => {})))
    return context
  }
  if (options.quiet) return runStepsInline(steps, context, () => {})
  const tasks: ListrTask<Context>[] = steps.map((step) => ({
    title: step.title,
    enabled: step.enabled ? whenItsTurnComes(step.enabled) : undefined,
    skip: step.skip ? (ctx) => step.skip!(ctx) : undefined,
    task: async (ctx, task) => {
      try {
        await step.run(ctx, (message) => {
          task.output = message
        })
      } catch (error) {
        throw new StepError(step.title, error)
      }
    },
  }))
  const live = isInteractiveTerminal()
  // listr2 wraps the live list at process.stdout's width: a terminal that reports none (a pty of 0
  // columns: script(1) run from a script, `docker exec -t` without a client terminal) would get one
  // character per line. An unknown width is 80 columns, as for a pipe.
  if (live && !process.stdout.columns) process.stdout.columns = process.stderr.columns || 80
  const { Listr, ListrLogger, ProcessOutput } = await import('listr2')
  const toStderr = () => new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) })
  const list = new Listr<Context, 'default' | 'simple', 'simple'>(tasks, {
    renderer: live ? 'default' : 'simple',
    fallbackRenderer: 'simple',
    rendererOptions: { logger: toStderr(), collapseSkips: false, showErrorMessage: false } as never,
    fallbackRendererOptions: { logger: toStderr() } as never,
    exitOnError: !options.concurrent,
    concurrent: Boolean(options.concurrent),
    collectErrors: false,
    // Our own handlers in cli.ts remove temporary resources and exit 130.
    registerSignalListeners: false,
    ctx: context,
  })
  try {
    return await list.run()
  } catch (error) {
    throw error instanceof StepError ? error : new StepError('progress', error)
  }
}

/**
 * listr2 asks every step whether it applies before the first one runs (to draw the list), when the
 * steps before it have not filled the context yet, then again when its turn comes. A step that
 * cannot say yet is shown; its turn decides.
 */
function whenItsTurnComes<Context>(enabled: (context: Context) => boolean): (context: Context) => boolean {
  let early = true
  return (context) => {
    if (!early) return enabled(context)
    early = false
    try {
      return enabled(context)
    } catch {
      return true
    }
  }
}

/**
 * Run steps in order inside another step (no list of their own): each title goes to `report`,
 * which the step's own line shows. Also how --json runs a task's steps, with nothing to report to.
 */
export async function runStepsInline<Context extends object>(steps: Step<Context>[], context: Context, report: (message: string) => void): Promise<Context> {
  for (const step of steps) {
    if (step.enabled && !step.enabled(context)) continue
    const skipped = step.skip?.(context)
    if (skipped) {
      report(`${step.title}: skipped (${skipped})`)
      continue
    }
    report(step.title)
    try {
      await step.run(context, report)
    } catch (error) {
      throw new StepError(step.title, error)
    }
  }
  return context
}

/**
 * A byte counter for a long step whose total is known before it starts (or by its first byte: a
 * function is asked at every count): on a terminal the step's line shows bytes, percent, rate and
 * time left (the meter calls several times a second); in CI and pipes a plain line about every 10 %.
 */
export function byteProgress(report: (message: string) => void, label: string, expected: number | (() => number)): (done: number, final?: boolean) => void {
  // Timed from the first byte: before it, the tool was only starting.
  let started: number | undefined
  const live = isInteractiveTerminal()
  let lastTenth = -1
  return (done, final = false) => {
    started ??= Date.now()
    const total = typeof expected === 'number' ? expected : expected()
    // Only the end is the tenth tenth: an estimate the work outgrows must not use up the 100 % line.
    const tenth = final ? 10 : total > 0 ? Math.min(9, Math.floor((done / total) * 10)) : 0
    if (!live && tenth <= lastTenth) return
    lastTenth = tenth
    report(`${label}: ${formatProgress(done, total, Date.now() - started, final)}`)
  }
}
