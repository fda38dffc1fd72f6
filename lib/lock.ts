// One operation at a time per bottle. proper-lockfile keeps a lock directory whose mtime it
// refreshes while the holder lives; a lock left by a killed process goes stale and is taken over.
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { registerCleanup } from './cleanup.ts'
import { OperationError } from './errors.ts'
import { stateRoot } from './state.ts'

/** How long a lock may go unrefreshed before it counts as left by a dead process. */
const STALE_MS = 10_000

/**
 * Take the bottle's lock for the rest of this task (released when the task ends, however it ends).
 * Waits a few seconds for another operation to finish, then gives up with a message saying so.
 */
export async function lockBottle(slug: string, waitMs = 3_000): Promise<void> {
  if (held.has(slug)) return
  const dir = join(stateRoot(), 'locks')
  await mkdir(dir, { recursive: true })
  const target = join(dir, slug)
  let release: () => Promise<void>
  // Loaded when a bottle is locked, not at start-up.
  const lockfile = (await import('proper-lockfile')).default
  try {
    release = await lockfile.lock(target, {
      realpath: false,
      stale: STALE_MS,
      update: STALE_MS / 2,
      retries: { retries: Math.max(1, Math.round(waitMs / 250)), minTimeout: 250, maxTimeout: 250, factor: 1 },
      // A lost lock (its directory removed under us) is reported, not thrown from a timer.
      onCompromised: (error) => process.stderr.write(`warning: the lock on bottle "${slug}" was lost: ${error.message}\n`),
    })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new OperationError(`another operation holds bottle "${slug}" (lock ${target}.lock): try again when it has finished`)
    }
    throw error
  }
  held.add(slug)
  registerCleanup(async () => {
    held.delete(slug)
    await release().catch(() => {})
  })
}

/** Bottles this process holds already: taking one twice (cleanup's two actions) is a no-op. */
const held = new Set<string>()
