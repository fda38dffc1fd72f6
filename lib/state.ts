// The per-bottle state directory shared with bot-bottle: <root>/state/<slug>/.
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import * as z from 'zod/mini'
import { parseJson } from './schema.ts'
import { UsageError } from './errors.ts'
import { parseRunConfig, type RunConfig } from './run-config.ts'
import { isValidSlug } from './slug.ts'

export const BACKENDS = ['docker', 'macos-container', 'smolmachines'] as const
export type Backend = (typeof BACKENDS)[number]
/** What older state (backend "" or absent) and `start` without --backend mean. */
export const DEFAULT_BACKEND: Backend = 'docker'

/** metadata.json as bot-bottle writes it; unknown fields are kept when we rewrite it. */
export const metadataSchema = z.looseObject({
  identity: z.string(),
  agent_name: z.string(),
  cwd: z.optional(z.string()),
  copy_cwd: z.optional(z.boolean()),
  started_at: z.optional(z.string()),
  compose_project: z.optional(z.string()),
  // "" or absent means docker (older state).
  backend: z.optional(z.enum([...BACKENDS, ''])),
  /** The image the bottle was started from: what a rebuild falls back to. */
  image: z.optional(z.string()),
  /** Environment variable names to keep out of snapshots, besides the ones that look like credentials. */
  secret_env: z.optional(z.array(z.string())),
})
export type Metadata = z.infer<typeof metadataSchema>

export const FILES = {
  metadata: 'metadata.json',
  committedImage: 'committed-image',
  dockerfile: 'Dockerfile',
  preserveMarker: 'preserve',
  history: 'snapshots.json',
  runConfig: 'run-config.json',
  /** bot-bottle's compose file of a compose bottle. */
  compose: 'docker-compose.yml',
  /** Where a bottle from elsewhere came from and what it was allowed (lib/origin.ts); none for one committed here. */
  origin: 'origin.json',
  /** Paths and globs kept out of every snapshot (a line each). */
  exclude: 'exclude',
} as const

export function stateRoot(): string {
  return process.env.BOT_BOTTLE_HOME || join(homedir(), '.bot-bottle')
}

export function stateDir(slug: string): string {
  return join(stateRoot(), 'state', slug)
}

export function statePath(slug: string, file: keyof typeof FILES): string {
  return join(stateDir(slug), FILES[file])
}

export function backendOf(metadata: Metadata): Backend {
  return metadata.backend || DEFAULT_BACKEND
}

/** Slugs of every state dir under the root (names that are not valid slugs are ignored). */
export async function listStateSlugs(): Promise<string[]> {
  const entries = await readdir(join(stateRoot(), 'state'), { withFileTypes: true }).catch(() => [])
  return entries.filter((entry) => entry.isDirectory() && isValidSlug(entry.name)).map((entry) => entry.name).sort()
}

export function hasState(slug: string): boolean {
  return existsSync(statePath(slug, 'metadata'))
}

export async function readMetadata(slug: string): Promise<Metadata> {
  const metadata = await readStateFile(slug, 'metadata', metadataSchema)
  if (!metadata) throw new UsageError(`unknown bottle "${slug}": no ${statePath(slug, 'metadata')}`)
  return metadata
}

/**
 * A JSON file of the state dir, validated; undefined when there is none. A file that is not JSON
 * or does not fit the schema is bad input named by its path, and is never rewritten or deleted.
 */
export async function readStateFile<T>(slug: string, name: keyof typeof FILES, schema: z.ZodMiniType<T>): Promise<T | undefined> {
  const file = statePath(slug, name)
  const text = readSmall(file)
  if (text === undefined) return undefined
  return parseJson(schema, text, file)
}

/** Metadata that travelled in a snapshot's label or a bundle's manifest. */
export function parseMetadata(json: string, where: string): Metadata {
  return parseJson(metadataSchema, json, where)
}

export async function writeMetadata(slug: string, metadata: Metadata): Promise<void> {
  await writeAtomic(statePath(slug, 'metadata'), `${JSON.stringify(metadata, null, 2)}\n`)
}

export async function writeRunConfig(slug: string, config: RunConfig): Promise<void> {
  await writeAtomic(statePath(slug, 'runConfig'), `${JSON.stringify(config, null, 2)}\n`)
}

/** The run configuration recorded at the last commit, if any. */
export async function readRunConfig(slug: string): Promise<RunConfig | undefined> {
  const text = await readFile(statePath(slug, 'runConfig'), 'utf8').catch(() => undefined)
  return text === undefined ? undefined : parseRunConfig(text, statePath(slug, 'runConfig'))
}

export async function readCommittedImage(slug: string): Promise<string | undefined> {
  return readSmall(statePath(slug, 'committedImage'))?.trim() || undefined
}

/**
 * A small file of the state dir, or undefined when it is not there. Read synchronously: for a few
 * hundred bytes that is one system call where the promise API makes four trips (list reads two
 * files of each of a thousand bottles).
 */
function readSmall(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

export async function writeCommittedImage(slug: string, reference: string): Promise<void> {
  await writeAtomic(statePath(slug, 'committedImage'), `${reference}\n`)
}

export async function markPreserved(slug: string): Promise<void> {
  await writeAtomic(statePath(slug, 'preserveMarker'), `preserved by bottle-tasks at ${new Date().toISOString()}\n`)
}

export function isPreserved(slug: string): boolean {
  return existsSync(statePath(slug, 'preserveMarker'))
}

export function hasDockerfile(slug: string): boolean {
  return existsSync(statePath(slug, 'dockerfile'))
}

export async function removeStateDir(slug: string): Promise<void> {
  await rm(stateDir(slug), { recursive: true, force: true })
}

export async function createStateDir(slug: string): Promise<void> {
  await mkdir(stateDir(slug), { recursive: true })
}

let written = 0
/** A name part no other writer uses at the same time (this process's pid, the time, a count): no crypto needed at start-up. */
const uniqueSuffix = () => `${process.pid}-${Date.now().toString(36)}-${++written}`

/**
 * Write a file others read: a temp file in the same directory, then rename over the target (all that
 * write-file-atomic would do here, without its dependency).
 */
export async function writeAtomic(file: string, content: string): Promise<void> {
  const temp = `${file}.tmp-${uniqueSuffix()}`
  try {
    await writeFile(temp, content, { mode: 0o644 })
    await rename(temp, file)
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
}

/**
 * Create a bottle's whole state dir at once (import, fork): written beside it under a hidden name,
 * then renamed into place, so a reader sees no state dir or a complete one. With `replace`, an
 * existing state dir is swapped out and removed only after the new one is in place.
 */
export async function installStateDir(
  slug: string,
  metadata: Metadata,
  /** Puts the snapshot in place (files may go into the staged dir); returns what committed-image records. */
  placeSnapshot: (stagedDir: string) => Promise<string>,
  replace: boolean,
): Promise<string> {
  const parent = join(stateRoot(), 'state')
  await mkdir(parent, { recursive: true })
  const staged = join(parent, `.import-${slug}-${uniqueSuffix()}`)
  await mkdir(staged)
  try {
    const committedImage = await placeSnapshot(staged)
    await writeFile(join(staged, FILES.metadata), `${JSON.stringify(metadata, null, 2)}\n`)
    await writeFile(join(staged, FILES.committedImage), `${committedImage}\n`)
    await writeFile(join(staged, FILES.preserveMarker), `preserved by bottle-tasks at ${new Date().toISOString()}\n`)
    const target = stateDir(slug)
    if (existsSync(target)) {
      if (!replace) throw new UsageError(`bottle "${slug}" already exists on this host`)
      const old = join(parent, `.replaced-${slug}-${uniqueSuffix()}`)
      await rename(target, old)
      await rename(staged, target)
      await rm(old, { recursive: true, force: true })
    } else {
      await rename(staged, target)
    }
    return committedImage
  } catch (error) {
    await rm(staged, { recursive: true, force: true })
    throw error
  }
}
