// Every bottle we can see: state dirs on disk joined with containers/VMs in the engines.
import { installedBackends } from './backends/index.ts'
import type { BottleStatus } from './backends/types.ts'
import { backendOf, isPreserved, listStateSlugs, readCommittedImage, readMetadata, type Backend } from './state.ts'

export interface BottleRow {
  slug: string
  agent: string
  backend: Backend | 'unknown'
  status: BottleStatus
  startedAt: string
  snapshot: string | null
  preserved: boolean
  /** Why the state dir could not be read, when it could not. */
  problem?: string
  /** Parts of the bottle left in the engine without it (a compose bottle's sidecars). */
  leftovers?: boolean
}

export async function inventory(): Promise<BottleRow[]> {
  const active = new Map<string, { status: BottleStatus; backend: Backend; leftovers?: boolean }>()
  const backends = await installedBackends()
  const listings = await Promise.all(backends.map((backend) => backend.listActive()))
  for (const [i, backend] of backends.entries()) {
    for (const bottle of listings[i]!) active.set(bottle.slug, { status: bottle.status, backend: backend.name, ...(bottle.leftovers ? { leftovers: true } : {}) })
  }
  const slugs = new Set([...(await listStateSlugs()), ...active.keys()])
  const rows = await Promise.all([...slugs].sort().map((slug) => describe(slug, active.get(slug))))
  return rows
}

async function describe(slug: string, active: { status: BottleStatus; backend: Backend; leftovers?: boolean } | undefined): Promise<BottleRow> {
  const row: BottleRow = {
    slug,
    agent: '',
    backend: active?.backend ?? 'unknown',
    status: active?.status ?? 'absent',
    startedAt: '',
    snapshot: (await readCommittedImage(slug)) ?? null,
    preserved: isPreserved(slug),
    ...(active?.leftovers ? { leftovers: true } : {}),
  }
  try {
    const metadata = await readMetadata(slug)
    return { ...row, agent: metadata.agent_name, backend: backendOf(metadata), startedAt: metadata.started_at ?? '' }
  } catch (error) {
    return { ...row, problem: (error as Error).message }
  }
}

export async function runningSlugs(): Promise<string[]> {
  return (await inventory()).filter((row) => row.status === 'running' && !row.problem).map((row) => row.slug)
}

export async function resumableSlugs(): Promise<string[]> {
  return (await inventory()).filter((row) => row.status !== 'running' && !row.problem).map((row) => row.slug)
}

export async function committedSlugs(): Promise<string[]> {
  return (await inventory()).filter((row) => row.snapshot && !row.problem).map((row) => row.slug)
}
