// One operation at a time per bottle. The lock is a directory (mkdir is atomic) holding an `owner`
// file with the holder's pid and host. A lock whose holder is dead (on this host) is taken over at
// once; one without an owner (a holder killed between mkdir and write, or a lock of an older
// bottle-tasks, which kept none) counts as left behind once it is STALE_MS old.
// Our own rather than proper-lockfile: that one knows no holder's pid, so a dead holder's lock waits
// out its staleness (10 s) instead of being taken over at once.
import { hostname } from 'node:os'
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { registerCleanup } from './cleanup.ts'
import { OperationError } from './errors.ts'
import { isAlive } from './orphans.ts'
import { stateRoot } from './state.ts'

/** How old a lock without an owner must be before it counts as left behind. */
const STALE_MS = 10_000
const RETRY_MS = 250

/**
 * Take the bottle's lock for the rest of this task (released when the task ends, however it ends),
 * or until the returned release is called (watch holds it only while it commits).
 * Waits a few seconds for another operation to finish, then gives up with a message saying so.
 */
export async function lockBottle(slug: string, waitMs = 3_000): Promise<() => Promise<void>> {
  if (held.has(slug)) return async () => {}
  const dir = join(stateRoot(), 'locks')
  await mkdir(dir, { recursive: true })
  const lock = join(dir, `${slug}.lock`)
  for (let attempt = 0; !(await tryLock(lock)); attempt++) {
    if (await isLeftBehind(lock)) {
      await rm(lock, { recursive: true, force: true })
      continue
    }
    if ((attempt + 1) * RETRY_MS > waitMs) {
      throw new OperationError(`another operation holds bottle "${slug}" (lock ${lock}): try again when it has finished`)
    }
    await sleep(RETRY_MS)
  }
  held.add(slug)
  const release = async () => {
    forget()
    held.delete(slug)
    await rm(lock, { recursive: true, force: true })
  }
  const forget = registerCleanup(release)
  return release
}

/** Bottles this process holds already: taking one twice (cleanup's two actions) is a no-op. */
const held = new Set<string>()

const ME = `${process.pid} ${hostname()}\n`

async function tryLock(lock: string): Promise<boolean> {
  try {
    await mkdir(lock)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  }
  await writeFile(join(lock, 'owner'), ME)
  return true
}

/** A holder that died on this host, or no holder written for STALE_MS. */
async function isLeftBehind(lock: string): Promise<boolean> {
  const owner = await readFile(join(lock, 'owner'), 'utf8').catch(() => undefined)
  const [pid, host] = (owner ?? '').trim().split(' ')
  if (pid && host) return host === hostname() && !isAlive(Number(pid))
  const made = await stat(lock).catch(() => undefined)
  // Gone meanwhile: the next mkdir decides.
  return made === undefined || Date.now() - made.mtimeMs > STALE_MS
}
