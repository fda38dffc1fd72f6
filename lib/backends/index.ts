import { UsageError } from '../cli.ts'
import { backendOf, type Backend, type Metadata } from '../state.ts'
import { dockerBackend } from './docker.ts'
import type { BottleBackend } from './types.ts'

const backends: Partial<Record<Backend, BottleBackend>> = {
  docker: dockerBackend,
}

export function backendFor(metadata: Metadata): BottleBackend {
  return backendNamed(backendOf(metadata))
}

export function backendNamed(name: Backend): BottleBackend {
  const backend = backends[name]
  if (!backend) throw new UsageError(`the ${name} backend is not available in this version of bottle-tasks`)
  return backend
}

/** The backends whose tools answer on this machine (list and cleanup look at each). */
export function installedBackends(): BottleBackend[] {
  return Object.values(backends)
}

export type { Bottle, BottleBackend, BottleStatus, CommitContext } from './types.ts'
