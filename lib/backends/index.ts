// Which backend a bottle uses. Each one is loaded only when a bottle needs it, so a docker bottle's
// task never evaluates the Apple or smolvm code.
import { isOnPath } from '../shell.ts'
import { backendOf, type Backend, type Metadata } from '../state.ts'
import type { BottleBackend } from './types.ts'

const loaders: Record<Backend, () => Promise<BottleBackend>> = {
  docker: async () => (await import('./docker.ts')).dockerBackend,
  'macos-container': async () => (await import('./macos-container.ts')).macosContainerBackend,
  smolmachines: async () => (await import('./smolmachines.ts')).smolmachinesBackend,
}

/** The CLI each backend drives; docker is always looked at (its absence is worth an error). */
const tools: Record<Backend, string | undefined> = { docker: undefined, 'macos-container': 'container', smolmachines: 'smolvm' }

/** Snapshots that arrive by registry reference are images in the Docker engine. */
const REGISTRY_BACKEND: Backend = 'docker'

export function backendFor(metadata: Metadata): Promise<BottleBackend> {
  return backendNamed(backendOf(metadata))
}

export function backendNamed(name: Backend): Promise<BottleBackend> {
  return loaders[name]()
}

/** The backend that pulls snapshots from OCI registries (import REF). */
export function registryBackend(): Promise<BottleBackend> {
  return backendNamed(REGISTRY_BACKEND)
}

/** The backends whose tools are installed here (list and cleanup look at each). */
export async function installedBackends(): Promise<BottleBackend[]> {
  const names = Object.keys(tools) as Backend[]
  const installed = await Promise.all(names.map(async (name) => (tools[name] === undefined || (await isOnPath(tools[name])) ? backendNamed(name) : undefined)))
  return installed.filter((backend) => backend !== undefined)
}

export type { Bottle, BottleBackend, BottleStatus, CommitContext } from './types.ts'
