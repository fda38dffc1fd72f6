// What every backend needs the same way: which containers/VMs are our bottles, their status, and
// the boot-time init of the temp dirs.
import { UsageError } from '../errors.ts'
import { CONTAINER_PREFIX } from '../names.ts'
import { isValidSlug } from '../slug.ts'
import { stateRoot } from '../state.ts'
import type { ActiveBottle, BottleStatus } from './types.ts'

/** Every boot makes /tmp and /var/tmp exist with the sticky bit (snapshots may leave them out). */
export const TEMP_DIRS_INIT = 'mkdir -p /tmp /var/tmp && chmod 1777 /tmp /var/tmp'

export function toStatus(state: string | undefined): BottleStatus {
  if (state === undefined) return 'absent'
  return state === 'running' ? 'running' : 'stopped'
}

export interface EngineEntry {
  name: string
  state: string
  stateRoot?: string
  /** The compose project of a container: a sidecar of bottle X is in project bot-bottle-X. */
  composeProject?: string
}

/**
 * The bottles among an engine's containers/VMs: named bot-bottle-<valid slug>, belonging to this
 * state root or to none (made by bot-bottle, which sets no state-root label). A compose bottle's
 * sidecars (bot-bottle-<slug>-egress-1 in project bot-bottle-<slug>) are not bottles of their own;
 * left without their agent, they make the bottle's row say so (cleanup takes them down).
 */
export function ownBottles(entries: EngineEntry[]): ActiveBottle[] {
  const root = stateRoot()
  const ours = entries.filter((entry) => entry.name.startsWith(CONTAINER_PREFIX) && (!entry.stateRoot || entry.stateRoot === root))
  const isSidecar = (entry: EngineEntry) => entry.composeProject?.startsWith(CONTAINER_PREFIX) && entry.composeProject !== entry.name
  const bottles: ActiveBottle[] = ours
    .filter((entry) => !isSidecar(entry))
    .map((entry) => ({ slug: entry.name.slice(CONTAINER_PREFIX.length), status: toStatus(entry.state) }))
    .filter((bottle) => isValidSlug(bottle.slug))
  const seen = new Set(bottles.map((bottle) => bottle.slug))
  for (const sidecar of ours.filter(isSidecar)) {
    const slug = sidecar.composeProject!.slice(CONTAINER_PREFIX.length)
    if (isValidSlug(slug) && !seen.has(slug)) {
      seen.add(slug)
      bottles.push({ slug, status: 'absent', leftovers: true })
    }
  }
  return bottles
}

/**
 * Snapshots an import loaded in this process that were not there before it: only those may a
 * failed import remove again (an image that was already there is some bottle's).
 */
export function loadedHere(): { note(reference: string, existed: boolean): void; has(reference: string): boolean } {
  const made = new Set<string>()
  return {
    note: (reference, existed) => void (existed ? made.delete(reference) : made.add(reference)),
    has: (reference) => made.has(reference),
  }
}

const BASE_DOCKER_ONLY = '--base is supported for docker bottles only'

/**
 * What a backend whose snapshots have no layers to leave out (a smolmachine; an Apple image saved
 * whole) answers to `export --base` and to a bundle that left layers out: one refusal for both.
 */
export const wholeSnapshots = {
  layersOf: async (): Promise<never> => {
    throw new UsageError(BASE_DOCKER_ONLY)
  },
  partialLoadProblem: async (): Promise<string> => BASE_DOCKER_ONLY,
  /** For saveSnapshot: refuses a save that was asked to leave base layers out. */
  refuseLeaveOut(leaveOut: readonly string[]): void {
    if (leaveOut.length > 0) throw new UsageError(BASE_DOCKER_ONLY)
  },
}
