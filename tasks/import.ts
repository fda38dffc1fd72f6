// import: take a bundle file or a registry reference, verify it, load it, recreate the state dir.
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { backendNamed, type BottleBackend } from '../lib/backends/index.ts'
import { LABELS } from '../lib/docker.ts'
import { payloadStream, readBundle, verifyPayload, type BundleLocation } from '../lib/bundle.ts'
import { OperationError, UsageError, printResult, runTask } from '../lib/cli.ts'
import { formatRate } from '../lib/pipeline.ts'
import { lockBottle } from '../lib/lock.ts'
import { runSteps } from '../lib/progress.ts'
import { isRegistryRef } from '../lib/registry.ts'
import { recordSnapshot } from '../lib/history.ts'
import { verifySlug } from '../lib/slug.ts'
import { hasState, installStateDir, metadataSchema, type Metadata } from '../lib/state.ts'

interface ImportContext {
  bundle?: BundleLocation
  metadata?: Metadata
  loaded?: string
  slug?: string
  snapshot?: string
}

await runTask({
  name: 'import',
  summary: 'bring a bottle from a bundle file or a registry onto this host; then `resume` works here',
  usage: 'tsx tasks/import.ts (FILE | REGISTRY/REPO:TAG) [--as NEW_SLUG] [--force] [--json]',
  flags: [
    '--as SLUG            import under a new slug (state dir, metadata identity and image tag follow)',
    '--force              replace a bottle of the same slug on this host',
    '--json               print {slug, snapshot} as JSON',
  ],
  examples: ['task import -- dev-abc12.bottle', 'task import -- 127.0.0.1:5000/bottles/dev-abc12:latest --as dev-copy1'],
  options: { as: { type: 'string' }, force: { type: 'boolean' }, json: { type: 'boolean' } },
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw new UsageError('give one bundle FILE or registry reference to import')
    const source = positionals[0]!
    const fromFile = existsSync(source)
    if (!fromFile && !isRegistryRef(source)) throw new UsageError(`no such bundle file, and not a registry reference: ${source}`)
    const renamed = values.as === undefined ? undefined : verifySlug(values.as)
    const claim = async (slug: string) => {
      if (hasState(slug) && !values.force) throw new UsageError(`bottle "${slug}" already exists on this host: import with --as NEW_SLUG, or --force to replace it`)
      await lockBottle(slug)
      return slug
    }

    let backend: BottleBackend | undefined
    const steps = fromFile
      ? [
          {
            title: 'Read the manifest',
            run: async (ctx: ImportContext) => {
              ctx.bundle = await readBundle(resolve(source))
              ctx.slug = await claim(renamed ?? ctx.bundle.manifest.slug)
              ctx.metadata = ctx.bundle.manifest.metadata
              backend = backendNamed(ctx.bundle.manifest.backend)
            },
          },
          {
            title: 'Verify the checksum',
            run: async (ctx: ImportContext, report: (message: string) => void) => {
              const started = Date.now()
              await verifyPayload(ctx.bundle!, (bytes, elapsed) => report(formatRate(bytes, elapsed)))
              report(`verified ${formatRate(ctx.bundle!.manifest.payload.size, Date.now() - started)}`)
            },
          },
          {
            title: 'Check that this host has the base layers',
            enabled: (ctx: ImportContext) => Boolean(ctx.bundle?.manifest.base),
            run: async (ctx: ImportContext) => {
              const base = ctx.bundle!.manifest.base!
              const present = await backend!.layersOf(base.image)
              if (!present) throw new UsageError(`this bundle leaves out the layers of ${base.image}, which is not on this host: load or pull ${base.image} first, or export without --base`)
              const missing = base.layers.filter((layer) => !present.includes(layer))
              if (missing.length > 0) throw new UsageError(`${base.image} on this host lacks ${missing.length} of the layers the bundle left out (a different version?): bring the same ${base.image}, or export without --base`)
            },
          },
          {
            title: 'Load the snapshot into the engine',
            run: async (ctx: ImportContext) => {
              const { manifest } = ctx.bundle!
              ctx.loaded = await backend!.loadSnapshot(payloadStream(ctx.bundle!), manifest.payload.compression, manifest.snapshot)
            },
          },
        ]
      : [
          {
            title: `Pull ${source}`,
            run: async (ctx: ImportContext) => {
              backend = backendNamed('docker')
              const pulled = await backend.pullSnapshot(source)
              ctx.loaded = pulled.loaded
              try {
                ctx.metadata = metadataFromLabels(pulled.labels, source)
                ctx.slug = await claim(renamed ?? verifySlug(pulled.labels[LABELS.slug] ?? ctx.metadata.identity))
              } catch (error) {
                await backend.discardSnapshot(pulled.loaded)
                throw error
              }
            },
          },
        ]

    const context = await runSteps<ImportContext>(
      [
        ...steps,
        {
          title: 'Name the snapshot and recreate the state dir',
          run: async (ctx) => {
            const slug = ctx.slug!
            const metadata = { ...ctx.metadata!, identity: slug }
            ctx.snapshot = await installStateDir(slug, metadata, (staged) => backend!.adoptSnapshot(ctx.loaded!, slug, staged), Boolean(values.force))
            await recordSnapshot(backend!, slug, ctx.snapshot, `imported from ${source}`)
          },
        },
      ],
      {},
      { quiet: values.json },
    )

    const { slug, snapshot } = context
    printResult(values.json, { slug, snapshot }, () => `Imported ${slug} (snapshot ${snapshot}).\nResume it:  task resume SLUG=${slug}\n`)
  },
})

function metadataFromLabels(labels: Record<string, string>, source: string): Metadata {
  const text = labels[LABELS.metadata]
  if (!text) throw new OperationError(`${source} carries no bottle metadata (label ${LABELS.metadata}): it was not exported by bottle-tasks`)
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new OperationError(`${source}: label ${LABELS.metadata} is not JSON`)
  }
  const result = metadataSchema.safeParse(parsed)
  if (!result.success) throw new OperationError(`${source}: label ${LABELS.metadata} is not valid bottle metadata`)
  return result.data
}
