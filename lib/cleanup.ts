// The process-wide stack of undo actions. Temporary resources register their removal here before
// they are created, so success, a failure, Ctrl-C and SIGTERM all remove them (newest first).
// Our own: the removals are async and ordered (a registry's network after its container), which
// exit hooks (signal-exit) cannot wait for; listr2 and zx leave signals to the caller.
import { errorText } from './errors.ts'

const cleanups: Array<() => Promise<void> | void> = []

/** Returns a function that forgets the cleanup (the resource is gone or kept on purpose). */
export function registerCleanup(cleanup: () => Promise<void> | void): () => void {
  cleanups.push(cleanup)
  return () => {
    const index = cleanups.indexOf(cleanup)
    if (index >= 0) cleanups.splice(index, 1)
  }
}

export async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const cleanup = cleanups.pop()!
    try {
      await cleanup()
    } catch (error) {
      process.stderr.write(`warning: cleanup failed: ${errorText(error)}\n`)
    }
  }
}
