// Names, tags and labels every backend shares (SPEC "Names"): what a bottle, its snapshots and its
// rebuilds are called, and the labels that let a snapshot or a container say whose it is.
import { stateRoot } from './state.ts'
import type { Metadata } from './state.ts'

export const CONTAINER_PREFIX = 'bot-bottle-'

/** The container / VM of a bottle. */
export const containerName = (slug: string) => `${CONTAINER_PREFIX}${slug}`
/** The snapshot resume boots (docker, macos-container). */
export const committedTag = (slug: string) => `bot-bottle-committed-${slug}:latest`
/** Snapshot `n` of the bottle's history. */
export const numberedTag = (slug: string, n: number) => `bot-bottle-committed-${slug}:${n}`
/** What a per-bottle Dockerfile builds. */
export const rebuiltTag = (slug: string) => `bot-bottle-rebuilt-${slug}:latest`

export const LABELS = {
  slug: 'bot-bottle.slug',
  backend: 'bot-bottle.backend',
  metadata: 'bot-bottle.metadata',
  committedAt: 'bot-bottle.committed-at',
  /** Names of the credentials left out of a snapshot, for resume to supply again. */
  secretEnv: 'bot-bottle.secret-env',
  /** How the bottle ran (networks, limits, mounts…), recorded at commit: lib/run-config.ts. */
  runConfig: 'bot-bottle.run-config',
  /** A compose bottle's compose file, so it travels through a registry too. */
  composeFile: 'bot-bottle.compose-file',
  /** The state root a container belongs to: cleanup and list of another root leave it alone. */
  stateRoot: 'bot-bottle.state-root',
} as const

/** Compose's labels on the containers it makes. */
export const COMPOSE_LABELS = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  configFiles: 'com.docker.compose.project.config_files',
  workingDir: 'com.docker.compose.project.working_dir',
} as const

interface Bottle {
  slug: string
  metadata: Metadata
}

/** What we stamp on every snapshot we make, so import can restore the bottle from the image alone. */
export function bottleLabels(bottle: Bottle): Record<string, string> {
  return {
    [LABELS.slug]: bottle.slug,
    [LABELS.backend]: bottle.metadata.backend || 'docker',
    [LABELS.metadata]: JSON.stringify(bottle.metadata),
  }
}

/** Containers also say which state root they belong to (not part of a snapshot: it is per host). */
export const containerLabels = (bottle: Bottle) => ({ ...bottleLabels(bottle), [LABELS.stateRoot]: stateRoot() })

/** The argv after the CLI's exec prefix that opens the best shell a bottle has. */
export const SHELL = ['sh', '-c', 'command -v bash >/dev/null && exec bash || exec sh']
