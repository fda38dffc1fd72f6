// Where a bottle came from (origin.json in its state dir): committed here (no file: every bottle
// bot-bottle or this toolkit started here), or imported from a bundle file or a registry. A bottle
// from elsewhere is held to a default sandbox and the requests the user allowed by name, unless it
// was trusted (`import --trust`, or a signature from an allowed signer). Fork keeps it, and so does
// a commit after the import: what the bottle may do on this host does not grow by being re-saved.
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as z from 'zod/mini'
import './schema.ts'
import { OperationError } from './errors.ts'
import type { BackendRun } from './run-config.ts'
import { FILES, readStateFile, statePath } from './state.ts'
import type { Held } from './backends/types.ts'

const originSchema = z.object({
  from: z.union([
    z.object({ kind: z.literal('file'), name: z.string(), manifestSha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)) }),
    z.object({ kind: z.literal('registry'), reference: z.string(), digest: z.optional(z.string()) }),
  ]),
  importedAt: z.string(),
  /** The principal whose signature verified against the allowed signers (then `trusted`). */
  signer: z.optional(z.string()),
  /** As if committed here: --trust, or a good signature from an allowed signer. */
  trusted: z.boolean(),
  /** The request keys (lib/trust.ts) the user allowed with --allow. */
  allowed: z.array(z.string()),
})
export type Origin = z.infer<typeof originSchema>

/** The origin of a bottle, or undefined for one committed here. */
export function readOrigin(slug: string): Promise<Origin | undefined> {
  return readStateFile(slug, 'origin', originSchema)
}

/** Into a state dir being built (import, fork). */
export async function writeOrigin(dir: string, origin: Origin): Promise<void> {
  await writeFile(join(dir, FILES.origin), `${JSON.stringify(origin, null, 2)}\n`)
}

/**
 * What a boot of the bottle is held to: undefined for the user's own (committed here or trusted),
 * else the owner slug its volumes and networks must carry and the requests allowed by name.
 */
export function heldTo(slug: string, origin: Origin | undefined): Held | undefined {
  if (!origin || origin.trusted) return undefined
  return { owner: slug, allowed: new Set(origin.allowed) }
}

/** One line for `list SLUG` and the import summary. */
export function describeOrigin(origin: Origin | undefined): string[] {
  if (!origin) return ['Origin: committed on this host (its own: comes back as it ran).']
  const from = origin.from.kind === 'file' ? `the bundle ${origin.from.name} (manifest sha256 ${origin.from.manifestSha256})` : `the registry ${origin.from.reference}${origin.from.digest ? ` (${origin.from.digest})` : ''}`
  return [
    `Origin: imported ${origin.importedAt.replace('T', ' ').slice(0, 19)} from ${from}.`,
    origin.signer ? `Signed by ${origin.signer} (an allowed signer): trusted.` : origin.trusted ? 'Trusted by you (--trust): comes back as it ran.' : 'Untrusted: held to a default sandbox and what you allowed.',
    ...(origin.trusted ? [] : [`Allowed: ${origin.allowed.length ? origin.allowed.join(' ') : 'nothing above a default sandbox'}.`]),
  ]
}

/** The host values a held bottle may be handed: those allowed by name (all of them for the user's own). */
export function allowedEnv(names: string[], held: { allowed: ReadonlySet<string> } | undefined): string[] {
  return held ? names.filter((name) => held.allowed.has(`env:${name}`)) : names
}

/**
 * The run a boot of `slug` may make: as recorded for the user's own bottle; for a bottle from
 * elsewhere, held to what was allowed (everything else left out, and said), its compose file
 * refused where it asks for more (compose makes its services from the file, not from the record).
 * `origin` is whose allowances apply (a fork's source's, until the fork has its own state dir).
 */
export async function holdToOrigin(slug: string, run: BackendRun | undefined, report: (message: string) => void, origin?: Origin): Promise<{ run: BackendRun | undefined; held?: Held; leftOut: string[] }> {
  const held = heldTo(slug, origin ?? (await readOrigin(slug)))
  if (!held) return { run, leftOut: [] }
  const { allowedRun, fileRequests, notAllowed } = await import('./trust.ts')
  const compose = await readFile(statePath(slug, 'compose'), 'utf8').catch(() => undefined)
  const files = compose === undefined ? [] : [{ name: 'docker-compose.yml', text: compose }]
  const { requests, untrustable } = fileRequests(run, files, slug)
  if (untrustable.length > 0) throw new OperationError(`refused: ${slug} came from elsewhere and is not trusted, and its ${untrustable[0]}`)
  const missing = notAllowed(requests, held.allowed)
  if (missing.length > 0) throw new OperationError(`refused: ${slug} came from elsewhere, and its compose file asks for what was not allowed at import: ${missing.map((request) => request.key).join(' ')} (import it again with --allow KEY, or --trust)`)
  if (!run) return { run, held, leftOut: [] }
  const kept = allowedRun(run, held.allowed)
  const leftOut = kept.leftOut.map((request) => request.key)
  if (leftOut.length > 0) report(`held to what was allowed at import; left out: ${leftOut.join(' ')}`)
  return { run: kept.run, held, leftOut }
}
