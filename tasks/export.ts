// export: a committed bottle as one portable file, or pushed to an OCI registry.
import { existsSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { backendFor } from '../lib/backends/index.ts'
import { chooseSlug, loadBottle, singleSlugArgument } from '../lib/bottles.ts'
import { BUNDLE_FORMAT, BUNDLE_VERSION, writeBundle, type BundleManifest } from '../lib/bundle.ts'
import { OperationError, UsageError, printResult, runTask } from '../lib/cli.ts'
import { chooseCompression, payloadName } from '../lib/compression.ts'
import { committedSlugs } from '../lib/inventory.ts'
import { formatBytes, formatRate } from '../lib/pipeline.ts'
import { lockBottle } from '../lib/lock.ts'
import { runSteps } from '../lib/progress.ts'
import { verifyRegistryRef } from '../lib/registry.ts'
import { findSnapshot, parseCount, readHistory } from '../lib/history.ts'
import { backendOf, readCommittedImage } from '../lib/state.ts'

await runTask({
  name: 'export',
  summary: "write a committed bottle's snapshot and state as one file, or push it to a registry",
  usage: 'tsx tasks/export.ts [SLUG] (--output FILE | --to REGISTRY/REPO:TAG) [--snapshot N] [--compress zstd|gzip|none] [--base IMAGE] [--json]',
  flags: [
    '--output FILE        write a bundle file (written under a temporary name, renamed when complete)',
    '--to REF             push the snapshot to an OCI registry; the state travels in its labels',
    '--compress KIND      zstd (default when installed), gzip (default otherwise) or none',
    '--base IMAGE         leave out the layers of IMAGE: the target host must have IMAGE',
    '--snapshot N         export snapshot N of the history (default: the newest)',
    '--json               print what was written as JSON',
  ],
  examples: ['task export SLUG=dev-abc12 -- --output dev-abc12.bottle', 'task export SLUG=dev-abc12 -- --output day2.bottle --base debian:bookworm-slim', 'task export SLUG=dev-abc12 -- --to 127.0.0.1:5000/bottles/dev-abc12:latest'],
  options: { snapshot: { type: 'string' }, output: { type: 'string', short: 'o' }, to: { type: 'string' }, compress: { type: 'string' }, base: { type: 'string' }, json: { type: 'boolean' } },
  async run({ values, positionals }) {
    if (Boolean(values.output) === Boolean(values.to)) throw new UsageError('give exactly one of --output FILE or --to REGISTRY/REPO:TAG')
    if (values.to && (values.base || values.compress)) throw new UsageError('--base and --compress apply to --output only (a registry keeps layers once)')
    const output = values.output ? resolve(values.output) : undefined
    if (output && !existsSync(dirname(output))) throw new UsageError(`directory ${dirname(output)} does not exist`)
    if (output && existsSync(output) && statSync(output).isDirectory()) throw new UsageError(`--output ${output} is a directory; name a file`)
    if (values.to) verifyRegistryRef(values.to)
    const compression = output ? await chooseCompression(values.compress) : 'none'
    const slug = await chooseSlug(singleSlugArgument(positionals), committedSlugs, 'export')
    const bottle = await loadBottle(slug)
    const backend = backendFor(bottle.metadata)
    await lockBottle(slug)
    const chosen = parseCount('--snapshot', values.snapshot)
    const snapshot = chosen === undefined ? await readCommittedImage(slug) : findSnapshot(slug, await readHistory(slug), chosen).ref
    if (!snapshot) throw new OperationError(`bottle "${slug}" has no snapshot yet: commit it first (task commit SLUG=${slug})`)

    const context: { leaveOut: string[]; manifest?: BundleManifest; digest?: string } = { leaveOut: [] }
    await runSteps<typeof context>(
      [
        {
          title: `Check the snapshot ${snapshot}`,
          run: async (ctx) => {
            if (!(await backend.snapshotExists(snapshot))) throw new OperationError(`snapshot ${snapshot} is gone from this host: commit again`)
            if (!values.base) return
            const layers = (await backend.layersOf(snapshot))!
            const baseLayers = await backend.layersOf(values.base)
            if (!baseLayers) throw new UsageError(`--base image ${values.base} is not on this host`)
            if (baseLayers.some((layer, i) => layers[i] !== layer)) throw new UsageError(`the snapshot was not built on ${values.base}: its layers do not start with that image's`)
            // A layer that also appears above the base must travel: docker load needs it there.
            const above = new Set(layers.slice(baseLayers.length))
            ctx.leaveOut = baseLayers.filter((layer) => !above.has(layer))
          },
        },
        {
          title: `Save${compression === 'none' ? '' : `, compress (${compression})`} and write ${output}`,
          enabled: () => Boolean(output),
          run: async (ctx, report) => {
            const started = Date.now()
            ctx.manifest = await writeBundle(
              output!,
              (payload) => ({
                format: BUNDLE_FORMAT,
                version: BUNDLE_VERSION,
                slug,
                backend: backendOf(bottle.metadata),
                snapshot,
                createdAt: new Date().toISOString(),
                metadata: bottle.metadata,
                payload: { name: payloadName(compression), compression, ...payload },
                base: values.base ? { image: values.base, layers: ctx.leaveOut } : null,
              }),
              (sink) => backend.saveSnapshot(snapshot, sink, { compression, leaveOut: ctx.leaveOut, tempDir: dirname(output!) }).then(() => {}),
              (bytes, elapsed) => report(formatRate(bytes, elapsed)),
            )
            report(`wrote ${formatRate(ctx.manifest.payload.size, Date.now() - started)}`)
          },
        },
        {
          title: `Push the snapshot to ${values.to}`,
          enabled: () => Boolean(values.to),
          run: async (ctx) => {
            ctx.digest = (await backend.pushSnapshot(snapshot, values.to!)).digest
          },
        },
      ],
      context,
      { quiet: values.json },
    )

    if (output) {
      const { payload } = context.manifest!
      printResult(values.json, { slug, output, bytes: payload.size, sha256: payload.sha256, compression, base: values.base ?? null }, () =>
        [`Exported ${slug} to ${output} (${formatBytes(payload.size)}, sha256 ${payload.sha256.slice(0, 12)}…).`, `On the other host:  task import -- ${output}`, ''].join('\n'),
      )
    } else {
      printResult(values.json, { slug, to: values.to, digest: context.digest }, () =>
        [`Pushed ${slug} to ${values.to}${context.digest ? ` (${context.digest})` : ''}.`, `On the other host:  task import -- ${values.to}`, ''].join('\n'),
      )
    }
  },
})
