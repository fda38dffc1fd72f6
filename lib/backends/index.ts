import { backendOf, type Backend, type Metadata } from '../state.ts'
import { isOnPath } from '../shell.ts'
import { dockerBackend } from './docker.ts'
import { macosContainerBackend } from './macos-container.ts'
import { smolmachinesBackend } from './smolmachines.ts'
import type { BottleBackend } from './types.ts'

const backends: Record<Backend, BottleBackend> = {
  docker: dockerBackend,
  'macos-container': macosContainerBackend,
  smolmachines: smolmachinesBackend,
}

/** The CLI each backend drives; docker is always looked at (its absence is worth an error). */
const tools: Record<Backend, string | undefined> = { docker: undefined, 'macos-container': 'container', smolmachines: 'smolvm' }

export function backendFor(metadata: Metadata): BottleBackend {
  return backendNamed(backendOf(metadata))
}

export function backendNamed(name: Backend): BottleBackend {
  return backends[name]
}

/** The backends whose tools are installed here (list and cleanup look at each). */
export async function installedBackends(): Promise<BottleBackend[]> {
  const installed = await Promise.all(Object.entries(tools).map(async ([name, tool]) => (tool === undefined || (await isOnPath(tool)) ? backends[name as Backend] : undefined)))
  return installed.filter((backend) => backend !== undefined)
}

export type { Bottle, BottleBackend, BottleStatus, CommitContext } from './types.ts'
