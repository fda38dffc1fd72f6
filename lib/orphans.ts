// What crashed tasks (kill -9, power loss) leave behind, found by the pid of the task that made it:
// scratch dirs under <root>/tmp and temporary registries (containers and networks).
import { readdir, rm } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { OWNER_HOST_LABEL, OWNER_PID_LABEL, REGISTRY_LABEL } from './registry.ts'
import { sh, shNothrow } from './shell.ts'
import { stateRoot } from './state.ts'

export interface Orphan {
  kind: 'scratch-dir' | 'registry-container' | 'registry-network'
  name: string
  pid: number
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export async function findOrphans(): Promise<Orphan[]> {
  const orphans: Orphan[] = []
  const scratch = join(stateRoot(), 'tmp')
  for (const name of await readdir(scratch).catch(() => [])) {
    const pid = Number(/^[a-z]+-(\d+)-/.exec(name)?.[1])
    if (pid && !isAlive(pid)) orphans.push({ kind: 'scratch-dir', name: join(scratch, name), pid })
  }
  const labels = `{{.Label "${OWNER_PID_LABEL}"}}\t{{.Label "${OWNER_HOST_LABEL}"}}`
  const listings = {
    container: sh`docker ps -a --filter ${`label=${REGISTRY_LABEL}`} --format ${`{{.Names}}\t${labels}`}`,
    network: sh`docker network ls --filter ${`label=${REGISTRY_LABEL}`} --format ${`{{.Name}}\t${labels}`}`,
  }
  for (const [kind, listing] of Object.entries(listings) as Array<['container' | 'network', ReturnType<typeof sh>]>) {
    for (const line of (await listing).stdout.split('\n').filter(Boolean)) {
      const [name = '', pid = '', host = ''] = line.split('\t')
      if (host === hostname() && Number(pid) && !isAlive(Number(pid))) orphans.push({ kind: `registry-${kind}`, name, pid: Number(pid) })
    }
  }
  return orphans
}

export async function removeOrphan(orphan: Orphan): Promise<void> {
  if (orphan.kind === 'scratch-dir') await rm(orphan.name, { recursive: true, force: true })
  else if (orphan.kind === 'registry-container') await shNothrow`docker rm --force --volumes ${orphan.name}`
  else await shNothrow`docker network rm ${orphan.name}`
}
