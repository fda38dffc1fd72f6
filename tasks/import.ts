// import: take a bundle file or a registry reference, show what the bottle asks for above a default
// sandbox, refuse what was not allowed, then verify it, load it (naming nothing but its own snapshot),
// restore its volumes under its own names and recreate the state dir; then `resume` brings it back
// as it ran there, held to what was allowed here.
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { backendFor } from '../lib/backends/index.ts'
import type { BottleBackend } from '../lib/backends/types.ts'
import { loadBottle } from '../lib/bottles.ts'
import { registerCleanup } from '../lib/cleanup.ts'
import { commandLine, printResult, runTask } from '../lib/cli.ts'
import { OperationError, UsageError } from '../lib/errors.ts'
import { flag } from '../lib/flags.ts'
import { readHistory, recordSnapshot } from '../lib/history.ts'
import { openSource, type ImportSource, type Travelled } from '../lib/import-source.ts'
import { lockBottle } from '../lib/lock.ts'
import { byteProgress, runSteps } from '../lib/progress.ts'
import { describeOrigin, writeOrigin, type Origin } from '../lib/origin.ts'
import { importedVolumeName, namedVolumesOf, renameComposeFile, renameRun, runConfigOf, type BackendRun } from '../lib/run-config.ts'
import { defaultSigners, verify, type Verdict } from '../lib/signing.ts'
import { bottleRequests, notAllowed, type Request } from '../lib/trust.ts'
import { verifySlug } from '../lib/slug.ts'
import { FILES, hasState, installStateDir, stateDir } from '../lib/state.ts'

interface ImportContext {
  travelled: Travelled
  backend: BottleBackend
  slug: string
  run?: BackendRun
  /** The state files with their text, renamed for the slug. */
  files: Array<{ name: string; text: string }>
  /** Volume names here: the importing slug's (lib/run-config.ts importedVolumeName). */
  volumes: Array<{ name: string; member: string }>
  origin: Origin
  /** What the bottle is held to: undefined when trusted. */
  allowed?: ReadonlySet<string>
  loaded?: string
  snapshot?: string
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

/** What a source's bottle asks for, read before anything is loaded: the listing, and what was allowed. */
interface Inspection {
  travelled: Travelled
  slug: string
  run?: BackendRun
  files: Array<{ name: string; text: string }>
  volumes: Array<{ name: string; member: string }>
  verdict: Verdict
  requests: Request[]
  untrustable: string[]
}

/** Read the bottle and its signature; its run and files under the importing slug's names. */
async function inspect(source: ImportSource, as: string | undefined, signers: string): Promise<Inspection> {
  const travelled = await source.open()
  const slug = as ?? travelled.slug
  // Volumes named after the importing slug (and renamed in the compose file with the run).
  const volumeNames = new Map(namedVolumesOf(travelled.runConfig?.run).map((name, i) => [name, importedVolumeName(name, travelled.slug, slug, i)]))
  const run = travelled.runConfig && renameRun(travelled.runConfig.run, travelled.slug, slug, (name) => volumeNames.get(name) ?? name)
  const files = await Promise.all(travelled.files.map(async (file) => ({ name: file.name, text: renameComposeFile(await file.text(), travelled.slug, slug, volumeNames) })))
  const volumes = travelled.volumes.map((volume) => ({ name: volumeNames.get(volume.name) ?? volume.name, member: volume.member }))
  const verdict = await verify(travelled.signed?.data ?? Buffer.alloc(0), travelled.signed?.signature, signers, source.name)
  const { requests, untrustable } = bottleRequests(run, files, slug)
  return { travelled, slug, run, files, volumes, verdict, requests, untrustable }
}

/** The listing of what the bottle asks for, one line each with its key. */
function requestLines(inspection: Inspection, allowed: ReadonlySet<string>, trusted: boolean): string[] {
  const { requests, untrustable, verdict, travelled } = inspection
  const signature = { signed: `signed by ${verdict.kind === 'signed' ? verdict.signer : ''} (an allowed signer): trusted`, 'unknown-signer': 'signed by a key that is not among the allowed signers: held to a default sandbox', unsigned: 'not signed' }[verdict.kind]
  const mark = (key: string) => (trusted ? '' : allowed.has(key) ? '  (allowed)' : '  (NOT allowed)')
  return [
    `${inspection.slug} (${travelled.backend.name}), ${signature}.`,
    ...travelled.notes.map((note) => `Note: ${note}.`),
    requests.length || untrustable.length ? 'It asks for, above a default sandbox:' : 'It asks for nothing above a default sandbox.',
    ...requests.map((request) => `  ${request.key}  ${request.what}${mark(request.key)}`),
    ...untrustable.map((what) => `  (only with --trust) its ${what}`),
    ...(travelled.runConfig ? [] : ['  How it runs is not recorded here: what its snapshot says is read once loaded, and refused there unless allowed.']),
  ]
}

await runTask({
  name: 'import',
  summary: 'bring a bottle from a bundle file or a registry onto this host, held to what you allow; then `resume` works here',
  usage: '(FILE | REGISTRY/REPO:TAG) [--show] [--allow KEY]... [--trust] [--signers FILE] [--as NEW_SLUG] [--force] [--json]',
  flags: {
    show: flag.boolean('print what the bottle asks for above a default sandbox (marking what --allow and --trust would allow), and who signed it; touch nothing'),
    allow: flag.repeated('KEY', 'allow one thing the bottle asks for (a key --show prints, e.g. bind:/etc or egress/cap-add:NET_ADMIN; repeatable)'),
    trust: flag.boolean('trust the whole bottle: it comes back as it ran, as if committed here'),
    signers: flag.string('FILE', 'allowed signers (OpenSSH format) to check its signature against (default $BOT_BOTTLE_HOME/allowed_signers)', { parse: (raw) => resolve(raw) }),
    as: flag.string('SLUG', 'import under a new slug (state dir, metadata identity, image tag and volumes follow)', { parse: (raw) => verifySlug(raw) }),
    force: flag.boolean('replace a bottle of the same slug (not while its container exists here), its snapshots, and its own volumes'),
    json: flag.boolean('print {slug, snapshot, volumes, requests, trusted, allowed} as JSON'),
  },
  examples: [{ args: 'dev-abc12.bottle --show' }, { args: 'dev-abc12.bottle --allow bind:/srv/data' }, { args: '127.0.0.1:5000/bottles/dev-abc12:latest --as dev-copy1 --trust' }],
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw new UsageError('give one bundle FILE or registry reference to import')
    const source = openSource(positionals[0]!)
    const signers = values.signers ?? defaultSigners()
    if (values.signers && !existsSync(signers)) throw new UsageError(`--signers ${signers}: no such file`)
    // What was pulled to be read (a registry that wants credentials) goes again unless the import completes.
    const forgetLoaded = registerCleanup(() => source.discard())

    const inspection = await inspect(source, values.as, signers)
    const trusted = values.trust || inspection.verdict.kind === 'signed'
    const allowed = new Set(values.allow)
    if (values.show) {
      await source.discard()
      forgetLoaded()
      printResult(values.json, showJson(inspection, trusted, allowed), () => `${requestLines(inspection, allowed, trusted).join('\n')}\n`)
      return
    }
    const { slug, travelled } = inspection
    const missing = trusted ? [] : notAllowed(inspection.requests, allowed)
    if (!values.json) process.stdout.write(`${requestLines(inspection, allowed, trusted).join('\n')}\n`)
    // A key it does not ask for is a typo, or a bottle other than the one meant (unless how it runs
    // is only in its snapshot's label, read once loaded).
    const unasked = inspection.run ? [...allowed].filter((key) => !inspection.requests.some((request) => request.key === key)) : []
    if (unasked.length > 0) throw new UsageError(`--allow ${unasked.join(' ')}: the bottle does not ask for ${unasked.length > 1 ? 'these' : 'this'} (import --show lists what it asks for)`)
    if (!trusted && inspection.untrustable.length > 0) throw new OperationError(`refused: only with --trust (or signed by an allowed signer), for its ${inspection.untrustable.join('; its ')}; nothing was loaded`)
    if (missing.length > 0) throw new OperationError(`refused: not allowed: ${missing.map((request) => request.key).join(' ')} (allow each with --allow KEY, or the whole bottle with --trust); nothing was loaded`)

    if (hasState(slug) && !values.force) throw new UsageError(`bottle "${slug}" already exists on this host: import with --as NEW_SLUG, or --force to replace it`)
    await lockBottle(slug)
    const replaced = hasState(slug) ? await replaceable(slug, travelled.backend) : undefined
    const origin: Origin = {
      from: travelled.from,
      importedAt: new Date().toISOString(),
      ...(inspection.verdict.kind === 'signed' ? { signer: inspection.verdict.signer } : {}),
      trusted,
      allowed: trusted ? [] : [...allowed].sort(),
    }

    const context = await runSteps<ImportContext>(
      [
        // Volumes and files are checked before anything is written; the snapshot as it loads.
        { title: 'Verify the checksums of the volumes and files', enabled: () => source.verifiable && source.sizes().verify > 0, run: (_ctx, report) => source.verify(report) },
        { title: 'Check that this host has the base layers', enabled: () => source.verifiable, run: (ctx) => source.checkBase(ctx.backend) },
        {
          title: source.verifiable ? 'Load the snapshot into the engine (no name it carries applied), checking its sha256 as it streams' : 'Pull the snapshot (the manifest that was read, by digest)',
          run: async (ctx, report) => {
            ctx.loaded = await source.loadSnapshot(ctx.backend, byteProgress(report, 'snapshot', source.sizes().snapshot))
            if (ctx.run) return
            // How it runs only in the snapshot's label (a bundle from before manifests carried it):
            // a request like any other, refused here (and the load undone) unless allowed.
            const labelled = await ctx.backend.runOfSnapshot(ctx.loaded)
            if (!labelled) return
            ctx.run = renameRun(labelled, travelled.slug, slug, (name) => importedVolumeName(name, travelled.slug, slug, namedVolumesOf(labelled).indexOf(name)))
            if (!ctx.allowed) return
            const { requests, untrustable } = bottleRequests(ctx.run, ctx.files, slug)
            if (untrustable.length > 0) throw new OperationError(`refused: the snapshot's label says how it runs, and that is only for --trust: its ${untrustable.join('; its ')}; what was loaded is removed again`)
            const late = notAllowed(requests, ctx.allowed)
            if (late.length > 0) throw new OperationError(`refused: the snapshot's label says how it runs, and asks for what was not allowed: ${late.map((request) => request.key).join(' ')} (allow each with --allow KEY, or --trust); what was loaded is removed again`)
          },
        },
        {
          title: 'Restore the volumes under its own names',
          enabled: (ctx) => ctx.volumes.length > 0,
          run: async (ctx, report) => {
            for (const volume of ctx.volumes) {
              if (!values.force && (await ctx.backend.volumeInUse(volume.name, ctx.loaded!, slug))) {
                throw new UsageError(`volume ${volume.name} exists on this host and is not empty: import with --force to replace its contents, or --as NEW_SLUG`)
              }
            }
            for (const volume of ctx.volumes) {
              report(`volume ${volume.name}`)
              const { payload, compression } = source.volume(volume.member, byteProgress(report, `volume ${volume.name}`, source.sizes().volumes.get(volume.member) ?? 0))
              await ctx.backend.loadVolume(volume.name, payload, compression, values.force, ctx.loaded!, slug)
            }
          },
        },
        {
          title: 'Name the snapshot and recreate the state dir',
          run: async (ctx, report) => {
            const metadata = { ...travelled.metadata, identity: slug }
            ctx.snapshot = await installStateDir(
              slug,
              metadata,
              async (staged) => {
                if (ctx.run) await writeFile(join(staged, FILES.runConfig), `${JSON.stringify(runConfigOf(ctx.run), null, 2)}\n`)
                for (const file of ctx.files) await writeFile(join(staged, file.name), file.text)
                await writeOrigin(staged, ctx.origin)
                return ctx.backend.adoptSnapshot(ctx.loaded!, slug, staged)
              },
              values.force,
            )
            forgetLoaded()
            const entry = await recordSnapshot(ctx.backend, slug, ctx.snapshot, { message: `imported from ${source.name}` })
            // The replaced bottle's numbered snapshots are nobody's now: its history went with its state
            // dir (and so did snapshots kept as files in it). A failure here loses nothing of the import.
            const stale = (ctx.replaced?.snapshots ?? []).filter((ref) => ref !== entry.ref && ref !== ctx.snapshot && !ref.startsWith(`${stateDir(slug)}/`))
            if (stale.length > 0) {
              await ctx.replaced!.backend.removeSnapshots(stale).catch((error: unknown) => report(`the replaced bottle's snapshots stay (${stale.join(', ')}): ${(error as Error).message.split('\n')[0]}`))
            }
          },
        },
      ],
      {
        travelled,
        backend: travelled.backend,
        slug,
        ...(inspection.run ? { run: inspection.run } : {}),
        files: inspection.files,
        volumes: inspection.volumes,
        origin,
        ...(trusted ? {} : { allowed }),
        ...(replaced ? { replaced } : {}),
      },
      { quiet: values.json },
    )

    const { snapshot, volumes } = context
    printResult(values.json, { ...showJson(inspection, trusted, allowed), snapshot, volumes: volumes.map((volume) => volume.name), volumesLeftBehind: travelled.volumesLeftBehind }, () =>
      [
        `Imported ${slug} (snapshot ${snapshot}).`,
        ...describeOrigin(origin).slice(1),
        ...(volumes.length ? [`Volumes restored: ${volumes.map((volume) => volume.name).join(', ')}.`] : []),
        ...(travelled.volumesLeftBehind.length ? [`Volumes that did not travel: ${travelled.volumesLeftBehind.join(', ')} (resume refuses without them unless --relax volumes).`] : []),
        `Resume it:  ${commandLine('resume', { slug })}`,
        '',
      ].join('\n'),
    )
  },
})

function showJson(inspection: Inspection, trusted: boolean, allowed: ReadonlySet<string>) {
  const { verdict } = inspection
  return {
    slug: inspection.slug,
    signer: verdict.kind === 'signed' ? verdict.signer : null,
    signature: verdict.kind,
    trusted,
    requests: inspection.requests.map((request) => ({ ...request, allowed: trusted || allowed.has(request.key) })),
    onlyWithTrust: inspection.untrustable,
  }
}
