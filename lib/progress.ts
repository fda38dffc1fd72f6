// Step-by-step progress: listr2's live renderer on a terminal, one plain line per step in CI and pipes.
// Progress always goes to stderr so stdout stays machine-readable (slugs, --json).
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


/** Run the steps in order; a failure becomes a StepError naming its step. */
export async function runSteps<Context extends object>(steps: Step<Context>[], context: Context, options: { quiet?: boolean } = {}): Promise<Context> {
  // A pipe or CI gets plain lines: written here, without loading listr2 (it costs a task ~20 ms to load).
  if (options.quiet || !isInteractiveTerminal()) return runPlain(steps, context, options.quiet ? () => {} : (line) => process.stderr.write(`${line}\n`))
  const tasks: ListrTask<Context>[] = steps.map((step) => ({
    title: step.title,
    enabled: step.enabled ? (ctx) => step.enabled!(ctx) : undefined,
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
  const renderer = 'default'
  // Loaded for a terminal's live list only, not at start-up.
  const { Listr, ListrLogger, ProcessOutput } = await import('listr2')
  const toStderr = () => new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) })
  const list = new Listr<Context, 'default' | 'simple' | 'silent', 'simple'>(tasks, {
    renderer,
    fallbackRenderer: 'simple',
    rendererOptions: { logger: toStderr(), collapseSkips: false, showErrorMessage: false } as never,
    fallbackRendererOptions: { logger: toStderr() } as never,
    exitOnError: true,
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

/** Run steps in order inside another step (no list of their own): each title goes to `report`. */
/** One line per step and per report, as listr2's simple renderer writes them: ❯ started, › said, ✔ done, ↓ skipped, ✖ failed. */
async function runPlain<Context extends object>(steps: Step<Context>[], context: Context, write: (line: string) => void): Promise<Context> {
  for (const step of steps) {
    if (step.enabled && !step.enabled(context)) continue
    const skipped = step.skip?.(context)
    if (skipped) {
      write(`↓ ${step.title} [SKIPPED: ${skipped}]`)
      continue
    }
    write(`❯ ${step.title}`)
    try {
      await step.run(context, (message) => write(`› ${message}`))
    } catch (error) {
      const failure = new StepError(step.title, error)
      write(`✖ ${step.title} [FAILED: ${failure.message}]`)
      throw failure
    }
    write(`✔ ${step.title}`)
  }
  return context
}

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
