// Knobs from the environment, checked once at start-up: a bad value is bad usage (exit 2).
import * as z from 'zod/mini'
import './schema.ts'
import { UsageError } from './errors.ts'

const MAX_LAYERS = 125

const settingsSchema = z.object({
  BOTTLE_TASKS_COMPACT_MIB: z._default(z.coerce.number().check(z.nonnegative()), 8),
  BOTTLE_TASKS_FLATTEN_LAYERS: z._default(z.coerce.number().check(z.int(), z.minimum(2), z.maximum(MAX_LAYERS)), 100),
  BOTTLE_TASKS_SECRET_ENV: z._default(z.string().check(z.regex(/^([A-Za-z_][A-Za-z0-9_]*(,[A-Za-z_][A-Za-z0-9_]*)*)?$/, 'not a comma-separated list of variable names')), ''),
  BOTTLE_TASKS_REGISTRY_IMAGE: z._default(z.string().check(z.regex(/^[a-z0-9][a-z0-9._\/:@-]{0,254}$/, 'not an image reference')), 'registry:2'),
})

export interface Settings {
  /** Build a docker snapshot on the last one once a whole commit would write this many MiB or more. */
  compactMiB: number
  /** Flatten a docker snapshot into one layer once it has this many (engines refuse > 125). */
  flattenLayers: number
  /** The image of the temporary registry a smolmachines pack is pulled from. */
  registryImage: string
  /** More environment variable names to treat as credentials (besides *TOKEN, *KEY, AUTH*, …). */
  secretEnv: string[]
}

let cached: Settings | undefined

export function settings(): Settings {
  if (cached) return cached
  const env = Object.fromEntries(Object.entries(process.env).filter(([key, value]) => key.startsWith('BOTTLE_TASKS_') && value !== ''))
  const result = settingsSchema.safeParse(env)
  if (!result.success) {
    const issue = result.error.issues[0]!
    throw new UsageError(`${String(issue.path[0])}=${JSON.stringify(process.env[String(issue.path[0])])} is invalid: ${issue.message}`)
  }
  cached = {
    compactMiB: result.data.BOTTLE_TASKS_COMPACT_MIB,
    flattenLayers: result.data.BOTTLE_TASKS_FLATTEN_LAYERS,
    registryImage: result.data.BOTTLE_TASKS_REGISTRY_IMAGE,
    secretEnv: result.data.BOTTLE_TASKS_SECRET_ENV.split(',').filter(Boolean),
  }
  return cached
}

export const SETTINGS_HELP = [
  '  BOTTLE_TASKS_COMPACT_MIB     build a docker snapshot on the last one (only what changed) once a whole commit would write this many MiB (default 8)',
  `  BOTTLE_TASKS_FLATTEN_LAYERS  flatten a docker snapshot into one layer at this depth (default 100, max ${MAX_LAYERS})`,
  '  BOTTLE_TASKS_REGISTRY_IMAGE  image of the temporary registry smolmachines packs go through (default registry:2)',
  '  BOTTLE_TASKS_SECRET_ENV      more variable names (comma-separated) kept out of snapshots, like *TOKEN, *KEY, AUTH*',
]
