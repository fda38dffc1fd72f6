// export: a committed bottle as one portable file (snapshot, named volumes, state files), or its
// snapshot pushed to an OCI registry.
import { existsSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { backendFor } from '../lib/backends/index.ts'
import { chooseSlug, loadBottle, singleSlugArgument } from '../lib/bottles.ts'
import { BUNDLED_STATE_FILES, bundleManifest, fileMember, volumeMember, writeBundle, type BundleManifest, type Member } from '../lib/bundle.ts'
import { commandLine, printResult, runTask } from '../lib/cli.ts'
import { chooseCompression, COMPRESSIONS, payloadName } from '../lib/compression.ts'
import { OperationError, UsageError } from '../lib/errors.ts'
import { count, flag, oneOf } from '../lib/flags.ts'
import { formatBytes } from '../lib/format.ts'
import { findSnapshot, readHistory } from '../lib/history.ts'
import { committedSlugs } from '../lib/inventory.ts'
import { layersToLeaveOut } from '../lib/layers.ts'
import { lockBottle } from '../lib/lock.ts'
import { byteProgress, runSteps } from '../lib/progress.ts'
import { pushSignature, verifyRegistryRef } from '../lib/registry.ts'
import { sign } from '../lib/signing.ts'
import { bindsOf, runConfigOf, type BackendRun } from '../lib/run-config.ts'
import { backendOf, readCommittedImage, readRunConfig, stateDir } from '../lib/state.ts'
import type { VolumeEntry } from '../lib/backends/types.ts'

interface ExportContext {
  leaveOut: string[]
  run?: BackendRun
  volumes: VolumeEntry[]
  files: Array<(typeof BUNDLED_STATE_FILES)[number]>
  manifest?: BundleManifest
  digest?: string
  snapshotSize: number
  archive?: 'docker-legacy' | 'oci-layout'
  signatureRef?: string
}

await runTask({
  name: 'export',
  summary: "write a committed bottle's snapshot, volumes and state as one file, or push its snapshot to a registry",
  usage: '[SLUG] (--output FILE | --to REGISTRY/REPO:TAG) [--sign KEY] [--snapshot N] [--compress zstd|gzip|none] [--base IMAGE] [--no-volumes] [--json]',
  flags: {
    output: flag.string('FILE', 'write a bundle file (under a temporary name, renamed when complete)', { short: 'o', parse: (raw) => resolve(raw) }),
    to: flag.string('REF', 'push the snapshot to an OCI registry; the state travels in its labels (volumes do not)', { parse: verifyRegistryRef }),
    compress: flag.string('KIND', 'zstd (default when installed), gzip (default otherwise) or none', { parse: oneOf(COMPRESSIONS) }),
    base: flag.string('IMAGE', 'leave out the layers of IMAGE: the target host must have IMAGE'),
    snapshot: flag.string('N', 'export snapshot N of the history (default: the newest)', { parse: count() }),
    'no-volumes': flag.boolean('leave the named volumes out of the bundle (the manifest says so)'),
    sign: flag.string('KEY', 'sign it with this SSH private key (ssh-keygen -Y sign): an importer who lists your key in allowed_signers trusts it', { parse: (raw) => resolve(raw) }),
    json: flag.boolean('print what was written as JSON'),
  },
  examples: [{ slug: 'dev-abc12', args: '--output dev-abc12.bottle' }, { slug: 'dev-abc12', args: '--output day2.bottle --base debian:bookworm-slim' }, { slug: 'dev-abc12', args: '--to 127.0.0.1:5000/bottles/dev-abc12:latest' }],
  async run({ values, positionals }) {
    const { output, to } = values
    if (Boolean(output) === Boolean(to)) throw new UsageError('give exactly one of --output FILE or --to REGISTRY/REPO:TAG')
    if (to && (values.base || values.compress || values['no-volumes'])) throw new UsageError('--base, --compress and --no-volumes apply to --output only (a registry keeps layers once)')
    if (output && !existsSync(dirname(output))) throw new UsageError(`directory ${dirname(output)} does not exist`)
    if (output && existsSync(output) && statSync(output).isDirectory()) throw new UsageError(`--output ${output} is a directory; name a file`)
    if (values.sign && !existsSync(values.sign)) throw new UsageError(`--sign ${values.sign}: no such key file`)
    const compression = output ? await chooseCompression(values.compress) : 'none'
    const slug = await chooseSlug(singleSlugArgument(positionals), committedSlugs, 'export')
    const bottle = await loadBottle(slug)
    const backend = await backendFor(bottle.metadata)
    await lockBottle(slug)
    const snapshot = values.snapshot === undefined ? await readCommittedImage(slug) : findSnapshot(slug, await readHistory(slug), values.snapshot).ref
    if (!snapshot) throw new OperationError(`bottle "${slug}" has no snapshot yet: commit it first (${commandLine('commit', { slug })})`)

    const context = await runSteps<ExportContext>(
      [
        {
          title: `Check the snapshot ${snapshot}`,
          run: async (ctx) => {
            if (!(await backend.snapshotExists(snapshot))) throw new OperationError(`snapshot ${snapshot} is gone from this host: commit again`)
            if (values.base) ctx.leaveOut = layersToLeaveOut((await backend.layersOf(snapshot))!, await backend.layersOf(values.base), values.base)
          },
        },
        {
          title: 'Read how the bottle runs and which volumes and files travel',
          run: async (ctx) => {
            ctx.run = (values.snapshot === undefined ? (await readRunConfig(slug))?.run : undefined) ?? (await backend.runOfSnapshot(snapshot))
            // The history knows each snapshot's size: the total progress counts towards (unless the
            // backend knows better what its save writes: onSize below).
            const history = await readHistory(slug)
            ctx.snapshotSize = (values.snapshot === undefined ? history.at(-1) : history.find((entry) => entry.n === values.snapshot))?.sizeBytes ?? 0
            ctx.volumes = ctx.run ? await backend.volumesOf(ctx.run) : []
            ctx.files = BUNDLED_STATE_FILES.filter((file) => existsSync(`${stateDir(slug)}/${file}`))
          },
        },
        {
          title: `Save${compression === 'none' ? '' : `, compress (${compression})`} and write ${output}`,
          enabled: () => Boolean(output),
          run: async (ctx, report) => {
            const carried = values['no-volumes'] ? [] : ctx.volumes
            const snapshotProgress = byteProgress(report, 'snapshot', () => ctx.snapshotSize)
            const members: Member[] = [
              {
                name: payloadName(compression),
                produce: async (sink) => {
                  ctx.archive = (await backend.saveSnapshot(snapshot, sink, { compression, leaveOut: ctx.leaveOut, tempDir: dirname(output!), onBytes: snapshotProgress, onSize: (bytes) => (ctx.snapshotSize = bytes) })).archive
                },
              },
              ...carried.map((volume) => ({ name: volumeMember(volume.name, compression), produce: (sink) => backend.saveVolume(volume.name, sink, compression, snapshot, byteProgress(report, `volume ${volume.name}`, volume.sizeBytes)) }) as Member),
              ...ctx.files.map((file) => ({ name: fileMember(file), produce: async (sink) => void sink.end(await readFile(`${stateDir(slug)}/${file}`)) }) as Member),
            ]
            ctx.manifest = await writeBundle(
              output!,
              members,
              (written) =>
                bundleManifest(
                  {
                    slug,
                    backend: backendOf(bottle.metadata),
                    snapshot,
                    metadata: bottle.metadata,
                    compression,
                    payloadName: payloadName(compression),
                    base: values.base ? { image: values.base, layers: ctx.leaveOut, ...(ctx.archive ? { archive: ctx.archive } : {}) } : null,
                    runConfig: ctx.run ? runConfigOf(ctx.run) : null,
                    volumes: carried,
                    leftOutVolumes: values['no-volumes'] ? ctx.volumes.map((volume) => volume.name) : [],
                    binds: bindsOf(ctx.run),
                    files: ctx.files,
                  },
                  written,
                ),
              // The manifest holds the sha256 of every member: signing it signs the whole bundle.
              values.sign ? { sign: (manifest) => sign(manifest, values.sign!) } : {},
            )
          },
        },
        {
          title: `Push the snapshot to ${to}`,
          enabled: () => Boolean(to),
          run: async (ctx) => {
            ctx.digest = (await backend.pushSnapshot(snapshot, to!)).digest
          },
        },
        {
          title: `Sign it and push the signature beside it`,
          enabled: () => Boolean(to && values.sign),
          run: async (ctx) => {
            if (!ctx.digest) throw new OperationError(`the engine did not say the digest it pushed to ${to}: nothing to sign (the image is pushed, unsigned)`)
            ctx.signatureRef = await pushSignature(to!, ctx.digest, await sign(Buffer.from(ctx.digest), values.sign!))
          },
        },
      ],
      { leaveOut: [], volumes: [], files: [], snapshotSize: 0 },
      { quiet: values.json },
    )

    const binds = bindsOf(context.run)
    if (output) {
      const manifest = context.manifest!
      const size = statSync(output).size
      printResult(
        values.json,
        { slug, output, bytes: size, sha256: manifest.payload.sha256, compression, base: values.base ?? null, volumes: manifest.volumes, binds, signed: Boolean(values.sign) },
        () =>
          [
            `Exported ${slug} to ${output} (${formatBytes(size)}, snapshot sha256 ${manifest.payload.sha256.slice(0, 12)}…)${values.sign ? ', signed' : ''}.`,
            ...(manifest.volumes!.carried.length ? [`Volumes carried: ${manifest.volumes!.carried.map((volume) => volume.name).join(', ')}.`] : []),
            ...(manifest.volumes!.leftOut.length ? [`Volumes left out (--no-volumes): ${manifest.volumes!.leftOut.join(', ')}.`] : []),
            ...(binds.length ? [`Bind mounts are not carried (the other host needs these paths): ${binds.join(', ')}.`] : []),
            `On the other host:  ${commandLine('import', { args: output })}`,
            '',
          ].join('\n'),
      )
    } else {
      const notCarried = context.volumes.map((volume) => volume.name)
      printResult(values.json, { slug, to, digest: context.digest, volumesNotCarried: notCarried, binds, signature: context.signatureRef ?? null }, () =>
        [
          `Pushed ${slug} to ${to}${context.digest ? ` (${context.digest})` : ''}.`,
          ...(context.signatureRef ? [`Signed: its signature is pushed as ${context.signatureRef}.`] : []),
          ...(notCarried.length ? [`Volumes NOT carried by a registry push: ${notCarried.join(', ')} (export --output carries them; resume on the other host refuses without them).`] : []),
          ...(binds.length ? [`Bind mounts are not carried: ${binds.join(', ')}.`] : []),
          `On the other host:  ${commandLine('import', { args: to })}`,
          '',
        ].join('\n'),
      )
    }
  },
})
