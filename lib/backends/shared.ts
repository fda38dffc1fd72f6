// What every backend needs the same way: which containers/VMs are our bottles, and their status.
import { stateRoot } from '../state.ts'
import { isValidSlug } from '../slug.ts'
import type { ActiveBottle, BottleStatus } from './types.ts'

export const CONTAINER_PREFIX = 'bot-bottle-'

/** Every boot makes /tmp and /var/tmp exist with the sticky bit (snapshots may leave them out). */
export const TEMP_DIRS_INIT = 'mkdir -p /tmp /var/tmp && chmod 1777 /tmp /var/tmp'

export function toStatus(state: string | undefined): BottleStatus {
  if (state === undefined) return 'absent'
  return state === 'running' ? 'running' : 'stopped'
}

/**
 * The bottles among an engine's containers/VMs: named bot-bottle-<valid slug>, and belonging to this
 * state root or to none (made by bot-bottle, which sets no state-root label).
 */
export function ownBottles(entries: Array<{ name: string; state: string; stateRoot?: string }>): ActiveBottle[] {
  const root = stateRoot()
  return entries
    .filter((entry) => entry.name.startsWith(CONTAINER_PREFIX) && (!entry.stateRoot || entry.stateRoot === root))
    .map((entry) => ({ slug: entry.name.slice(CONTAINER_PREFIX.length), status: toStatus(entry.state) }))
    .filter((bottle) => isValidSlug(bottle.slug))
}
