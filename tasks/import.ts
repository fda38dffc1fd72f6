// import: take a bundle file or a registry reference, verify it, load it, restore its volumes and
// recreate the state dir; then `resume` works here, as the bottle ran there.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { backendFor } from '../lib/backends/index.ts'
import type { BottleBackend } from '../lib/backends/types.ts'
import { loadBottle } from '../lib/bottles.ts'
import { registerCleanup } from '../lib/cleanup.ts'
import { commandLine, printResult, runTask } from '../lib/cli.ts'
import { UsageError } from '../lib/errors.ts'
import { flag } from '../lib/flags.ts'
import { readHistory, recordSnapshot } from '../lib/history.ts'
import { openSource, type Travelled } from '../lib/import-source.ts'
import { lockBottle } from '../lib/lock.ts'
import { byteProgress, runSteps } from '../lib/progress.ts'
import { namedVolumesOf, renameComposeFile, renameRun, runConfigOf, type BackendRun } from '../lib/run-config.ts'
import { verifySlug } from '../lib/slug.ts'
import { FILES, hasState, installStateDir, stateDir } from '../lib/state.ts'

interface ImportContext {
  travelled?: Travelled
  backend?: BottleBackend
  slug?: string
  run?: BackendRun
  /** Volume names here (renamed with --as where they carried the slug). */
  volumes: Array<{ name: string; member: string }>
  loaded?: string
  snapshot?: string
  forgetLoaded?: () => void
  /** With --force over a bottle of this slug: its backend and the snapshots of its history. */
  replaced?: { backend: BottleBackend; snapshots: string[] }
}

/**
 * A bottle `import --force` may replace: one with no container or VM here, or `resume` would run
 * that one (restart it) instead of what was imported. Returns its snapshots, removed once replaced.
 */
async function replaceable(slug: string, importing: BottleBackend): Promise<{ backend: BottleBackend; snapshots: string[] }> {
  // A state dir too broken to read is replaced as it is; the engine is asked with the importing backend.
  const here = await loadBottle(slug).catch(() => undefined)
  const backend = here ? await backendFor(here.metadata) : importing
  const status = await backend.status(slug)
  if (status !== 'absent') throw new UsageError(`bottle "${slug}" is ${status} on this host: remove it first (${commandLine('cleanup', { slug })}), then import --force; or import with --as NEW_SLUG`)
  const snapshots = await readHistory(slug).catch(() => [])
  return { backend, snapshots: snapshots.map((entry) => entry.ref) }
}

await runTask({
  name: 'import',
  summary: 'bring a bottle from a bundle file or a registry onto this host; then `resume` works here',
  usage: '(FILE | REGISTRY/REPO:TAG) [--as NEW_SLUG] [--force] [--json]',
  flags: {
    as: flag.string('SLUG', 'import under a new slug (state dir, metadata identity, image tag and slug-named volumes follow)', { parse: (raw) => verifySlug(raw) }),
    force: flag.boolean('replace a bottle of the same slug (not while its container exists here) and its snapshots, and non-empty volumes of the same names'),
    json: flag.boolean('print {slug, snapshot, volumes} as JSON'),
  },
  examples: [{ args: 'dev-abc12.bottle' }, { args: '127.0.0.1:5000/bottles/dev-abc12:latest --as dev-copy1' }],
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw new UsageError('give one bundle FILE or registry reference to import')
    const source = openSource(positionals[0]!)

    const context = await runSteps<ImportContext>(
      [
        {
          title: `Read ${source.name}`,
          run: async (ctx) => {
            // What is loaded or pulled and does not become a bottle is forgotten again.
            ctx.forgetLoaded = registerCleanup(() => source.discard())
            const travelled = await source.open()
            const slug = values.as ?? travelled.slug
            if (hasState(slug) && !values.force) throw new UsageError(`bottle "${slug}" already exists on this host: import with --as NEW_SLUG, or --force to replace it`)
            await lockBottle(slug)
            if (hasState(slug)) ctx.replaced = await replaceable(slug, travelled.backend)
            const run = travelled.runConfig && renameRun(travelled.runConfig.run, travelled.slug, slug)
            // Under --as, volumes named after the slug take the new one (renameRun keeps their order).
            const names = namedVolumesOf(run)
            const byOriginal = new Map(namedVolumesOf(travelled.runConfig?.run).map((name, i) => [name, names[i] ?? name]))
            Object.assign(ctx, { travelled, backend: travelled.backend, slug, run, volumes: travelled.volumes.map((volume) => ({ name: byOriginal.get(volume.name) ?? volume.name, member: volume.member })) })
          },
        },
        // Volumes and files are checked before anything is written; the snapshot as it loads.
        { title: 'Verify the checksums of the volumes and files', enabled: () => source.verifiable && source.sizes().verify > 0, run: (_ctx, report) => source.verify(report) },
        { title: 'Check that this host has the base layers', enabled: () => source.verifiable, run: (ctx) => source.checkBase(ctx.backend!) },
        {
          title: source.verifiable ? 'Load the snapshot into the engine, checking its sha256 as it streams' : 'Load the snapshot into the engine',
          run: async (ctx, report) => {
            ctx.loaded = await source.loadSnapshot(ctx.backend!, byteProgress(report, 'snapshot', source.sizes().snapshot))
          },
        },
        {
          title: 'Restore the volumes',
          enabled: (ctx) => ctx.volumes.length > 0,
          run: async (ctx, report) => {
            for (const volume of ctx.volumes) {
              if (!values.force && (await ctx.backend!.volumeInUse(volume.name, ctx.loaded!))) {
                throw new UsageError(`volume ${volume.name} exists on this host and is not empty: import with --force to replace its contents, or --as NEW_SLUG`)
              }
            }
            for (const volume of ctx.volumes) {
              report(`volume ${volume.name}`)
              const { payload, compression } = source.volume(volume.member, byteProgress(report, `volume ${volume.name}`, source.sizes().volumes.get(volume.member) ?? 0))
              await ctx.backend!.loadVolume(volume.name, payload, compression, values.force, ctx.loaded!)
            }
          },
        },
        {
          title: 'Name the snapshot and recreate the state dir',
          run: async (ctx, report) => {
            const { travelled, backend, slug } = ctx as Required<ImportContext>
            const metadata = { ...travelled.metadata, identity: slug }
            ctx.snapshot = await installStateDir(
              slug,
              metadata,
              async (staged) => {
                if (ctx.run) await writeFile(join(staged, FILES.runConfig), `${JSON.stringify(runConfigOf(ctx.run), null, 2)}\n`)
                for (const file of travelled.files) await writeFile(join(staged, file.name), renameComposeFile(await file.text(), travelled.slug, slug))
                return backend.adoptSnapshot(ctx.loaded!, slug, staged)
              },
              values.force,
            )
            ctx.forgetLoaded!()
            const entry = await recordSnapshot(backend, slug, ctx.snapshot, `imported from ${source.name}`)
            // The replaced bottle's numbered snapshots are nobody's now: its history went with its state
            // dir (and so did snapshots kept as files in it). A failure here loses nothing of the import.
            const stale = (ctx.replaced?.snapshots ?? []).filter((ref) => ref !== entry.ref && ref !== ctx.snapshot && !ref.startsWith(`${stateDir(slug)}/`))
            if (stale.length > 0) {
              await ctx.replaced!.backend.removeSnapshots(stale).catch((error: unknown) => report(`the replaced bottle's snapshots stay (${stale.join(', ')}): ${(error as Error).message.split('\n')[0]}`))
            }
          },
        },
      ],
      { volumes: [] },
      { quiet: values.json },
    )

    const { slug, snapshot, volumes, travelled } = context
    printResult(values.json, { slug, snapshot, volumes: volumes.map((volume) => volume.name), volumesLeftBehind: travelled!.volumesLeftBehind }, () =>
      [
        `Imported ${slug} (snapshot ${snapshot}).`,
        ...(volumes.length ? [`Volumes restored: ${volumes.map((volume) => volume.name).join(', ')}.`] : []),
        ...(travelled!.volumesLeftBehind.length ? [`Volumes that did not travel: ${travelled!.volumesLeftBehind.join(', ')} (resume refuses without them unless --relax volumes).`] : []),
        `Resume it:  ${commandLine('resume', { slug })}`,
        '',
      ].join('\n'),
    )
  },
})
