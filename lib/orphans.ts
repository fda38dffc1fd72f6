// What crashed tasks (kill -9, power loss) leave behind, found by the pid of the task that made it:
// scratch dirs under <root>/tmp and temporary registries (containers and networks).
import { readFileSync } from 'node:fs'
import { readdir, rm } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import * as docker from './docker.ts'
import { OWNER_HOST_LABEL, OWNER_PID_LABEL, REGISTRY_LABEL } from './registry.ts'
import { stateRoot } from './state.ts'

export interface Orphan {
  kind: 'scratch-dir' | 'registry-container' | 'registry-network'
  name: string
  pid: number
}

/**
 * Whether the process runs. A killed task whose parent died too is a zombie until init reaps it
 * (which a container's init may do late): on Linux its /proc state says so, and it counts as dead.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
  try {
    // "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so the state follows the last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true // no /proc (macOS): kill(0) is all there is
  }
}

export async function findOrphans(): Promise<Orphan[]> {
  const orphans: Orphan[] = []
  const scratch = join(stateRoot(), 'tmp')
  for (const name of await readdir(scratch).catch(() => [])) {
    const pid = Number(/^[a-z]+-(\d+)-/.exec(name)?.[1])
    if (pid && !isAlive(pid)) orphans.push({ kind: 'scratch-dir', name: join(scratch, name), pid })
  }
  const kinds = ['container', 'network'] as const
  const listings = await Promise.all(kinds.map((kind) => docker.listLabelled(kind, REGISTRY_LABEL, [OWNER_PID_LABEL, OWNER_HOST_LABEL])))
  for (const [i, kind] of kinds.entries()) {
    for (const { name, labels } of listings[i]!) {
      const pid = Number(labels[OWNER_PID_LABEL])
      if (labels[OWNER_HOST_LABEL] === hostname() && pid && !isAlive(pid)) orphans.push({ kind: `registry-${kind}`, name, pid })
    }
  }
  return orphans
}

export async function removeOrphan(orphan: Orphan): Promise<void> {
  if (orphan.kind === 'scratch-dir') await rm(orphan.name, { recursive: true, force: true })
  else if (orphan.kind === 'registry-container') await docker.removeContainerQuietly(orphan.name, { volumes: true })
  else await docker.removeNetworkQuietly(orphan.name)
}
