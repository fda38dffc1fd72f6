// Where an import comes from: a bundle file, or a reference in an OCI registry. Both answer the
// same questions (which bottle, which backend, what travelled), so import reads as one list of steps.
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { backendNamed, registryBackend } from './backends/index.ts'
import type { BottleBackend } from './backends/types.ts'
import { bundleMembers, checkMember, memberStream, readBundle, readMemberText, verifyBundle, type BundleLocation, type StateFileName } from './bundle.ts'
import { meter } from './pipeline.ts'
import { byteProgress } from './progress.ts'
import type { Compression } from './compression.ts'
import { OperationError, UsageError } from './errors.ts'
import { verifyBaseLayers } from './layers.ts'
import { LABELS } from './names.ts'
import type { Origin } from './origin.ts'
import { isRegistryRef } from './registry.ts'
import { readRemoteImage, readRemoteSignature } from './registry-api.ts'
import { namedVolumesOf, parseRunConfig, type RunConfig } from './run-config.ts'
import { verifySlug } from './slug.ts'
import { parseMetadata, type Metadata } from './state.ts'

/** What travelled with a bottle, as its source describes it. */
export interface Travelled {
  slug: string
  backend: BottleBackend
  metadata: Metadata
  runConfig?: RunConfig
  /** Named volumes whose contents travelled. */
  volumes: Array<{ name: string; member: string }>
  /** Volumes the bottle had that did not travel (a registry push, or --no-volumes). */
  volumesLeftBehind: string[]
  /** State files that travelled (a compose file), with their text. */
  files: Array<{ name: StateFileName; text: () => Promise<string> }>
  /** Where it came from, for origin.json. */
  from: Origin['from']
  /** What its signature signs and the signature, when it came with one. */
  signed?: { data: Buffer; signature: string }
  /** Notes for the user about how it was read (a registry that had to be pulled to be read). */
  notes: string[]
}

export interface ImportSource {
  /** The file or reference, as the user named it. */
  name: string
  /** Whether the source carries checksums to verify, and layers it left out (a bundle). */
  verifiable: boolean
  /**
   * Read what travelled, without loading it (a registry that cannot be read without credentials
   * is pulled here, under a name of its own, and forgotten again unless the import completes).
   */
  open(): Promise<Travelled>
  /** Check the sha256 of what travelled besides the snapshot before anything is loaded or written (the snapshot is checked as it loads). */
  verify(report: (message: string) => void): Promise<void>
  /** The base layers a bundle left out must be on this host. */
  checkBase(backend: BottleBackend): Promise<void>
  /**
   * Load the snapshot into the engine, checking its sha256 as it streams (a mismatch is refused and
   * the load undone); returns what was loaded. `onBytes` counts what was read of it.
   */
  loadSnapshot(backend: BottleBackend, onBytes?: (bytes: number, final: boolean) => void): Promise<string>
  /** The sizes of what verify and load read (0 when not known). */
  sizes(): { verify: number; snapshot: number; volumes: Map<string, number> }
  /** A volume's payload and how it is compressed; `onBytes` counts what was read of it. */
  volume(member: string, onBytes?: (bytes: number, final: boolean) => void): { payload: Readable; compression: Compression }
  /** Forget what was loaded or pulled (the import failed or was refused). */
  discard(): Promise<void>
}

/** A bundle file or a registry reference; anything else is bad input. */
export function openSource(given: string): ImportSource {
  if (existsSync(given)) return bundleSource(resolve(given))
  if (isRegistryRef(given)) return registrySource(given)
  throw new UsageError(`no such bundle file, and not a registry reference: ${given}`)
}

function bundleSource(file: string): ImportSource {
  let bundle: BundleLocation | undefined
  let loaded: { backend: BottleBackend; reference: string } | undefined
  return {
    name: file,
    verifiable: true,
    async open() {
      bundle = await readBundle(file)
      const { manifest } = bundle
      return {
        slug: manifest.slug,
        backend: await backendNamed(manifest.backend),
        metadata: manifest.metadata,
        ...(manifest.runConfig ? { runConfig: manifest.runConfig } : {}),
        volumes: (manifest.volumes?.carried ?? []).map(({ name, member }) => ({ name, member })),
        volumesLeftBehind: manifest.volumes?.leftOut ?? [],
        files: (manifest.files ?? []).map(({ name, member }) => ({ name, text: () => readMemberText(bundle!, member) })),
        from: { kind: 'file', name: file, manifestSha256: createHash('sha256').update(bundle.manifestBytes).digest('hex') },
        ...(bundle.signature === undefined ? {} : { signed: { data: bundle.manifestBytes, signature: bundle.signature } }),
        notes: [],
      }
    },
    // The payload, most of a bundle, is read once: hashed on its way into the engine (loadSnapshot).
    verify: (report) => verifyBundle(bundle!, byteProgress(report, 'verified', besidesPayload(bundle!)), (member) => member !== bundle!.manifest.payload.name),
    sizes: () => ({
      verify: besidesPayload(bundle!),
      snapshot: bundle!.manifest.payload.size,
      volumes: new Map((bundle!.manifest.volumes?.carried ?? []).map((volume) => [volume.member, volume.size])),
    }),
    async checkBase(backend) {
      const base = bundle!.manifest.base
      if (!base) return
      const problem = await backend.partialLoadProblem(base.archive)
      if (problem) throw new UsageError(`${file} cannot be loaded here: ${problem}`)
      verifyBaseLayers(base, await backend.layersOf(base.image))
    },
    async loadSnapshot(backend, onBytes) {
      const { manifest } = bundle!
      const counted = meter(onBytes)
      let reference: string
      try {
        reference = await backend.loadSnapshot(memberStream(bundle!, manifest.payload.name).pipe(counted.transform), manifest.payload.compression, manifest.snapshot)
      } catch (error) {
        // The engine refusing a damaged payload reads as the bad input it is, as a verify first would say.
        await verifyBundle(bundle!, undefined, (member) => member === manifest.payload.name)
        throw error
      }
      loaded = { backend, reference }
      checkMember(bundle!, manifest.payload.name, counted, 'what was loaded is removed again')
      return reference
    },
    volume: (member, onBytes) => ({ payload: memberStream(bundle!, member).pipe(meter(onBytes, { hash: false }).transform), compression: bundle!.manifest.payload.compression }),
    discard: async () => loaded && loaded.backend.discardSnapshot(loaded.reference),
  }
}

/** The bytes the verify step reads: every member but the snapshot payload. */
function besidesPayload(bundle: BundleLocation): number {
  return bundleMembers(bundle.manifest)
    .filter(({ member }) => member !== bundle.manifest.payload.name)
    .reduce((sum, member) => sum + member.size, 0)
}

function registrySource(reference: string): ImportSource {
  let loaded = ''
  let pulled = false
  let backend: BottleBackend | undefined
  /** The labels import judged: the image pulled must carry the same (an index may hold several). */
  let judged: Record<string, string> = {}
  return {
    name: reference,
    verifiable: false,
    async open() {
      backend = await registryBackend()
      // Read without pulling where the registry lets us: the labels say what the bottle asks for,
      // and the pull below takes exactly that manifest (by digest).
      const remote = await readRemoteImage(reference)
      let labels: Record<string, string>
      const notes: string[] = []
      if (remote) {
        labels = remote.labels
        loaded = remote.pinned
      } else {
        const pulledNow = await backend.pullSnapshot(reference)
        loaded = pulledNow.loaded
        pulled = true
        labels = pulledNow.labels
        notes.push(`${reference} could not be read without pulling it (credentials?): pulled first, and removed again unless the import completes; its signature, if any, was not read`)
      }
      judged = labels
      const metadataLabel = labels[LABELS.metadata]
      if (!metadataLabel) throw new OperationError(`${reference} carries no bottle metadata (label ${LABELS.metadata}): it was not exported by bottle-tasks`)
      const metadata = parseMetadata(metadataLabel, `${reference}: label ${LABELS.metadata}`)
      const runConfig = labels[LABELS.runConfig] ? parseRunConfig(labels[LABELS.runConfig]!, `${reference}: label ${LABELS.runConfig}`) : undefined
      const compose = labels[LABELS.composeFile]
      const signature = remote ? await readRemoteSignature(reference, remote.digest) : undefined
      return {
        slug: verifySlug(labels[LABELS.slug] ?? metadata.identity),
        backend,
        metadata,
        ...(runConfig ? { runConfig } : {}),
        volumes: [],
        volumesLeftBehind: namedVolumesOf(runConfig?.run),
        files: compose ? [{ name: 'docker-compose.yml', text: async () => compose }] : [],
        from: { kind: 'registry', reference, ...(remote ? { digest: remote.digest } : {}) },
        ...(remote && signature !== undefined ? { signed: { data: Buffer.from(remote.digest), signature } } : {}),
        notes,
      }
    },
    verify: async () => {},
    sizes: () => ({ verify: 0, snapshot: 0, volumes: new Map() }),
    checkBase: async () => {},
    async loadSnapshot() {
      if (pulled) return loaded
      const pulledNow = await backend!.pullSnapshot(loaded)
      loaded = pulledNow.loaded
      pulled = true
      // By digest, but an index holds an image per platform: the engine's may not be the one read here.
      const differs = [LABELS.metadata, LABELS.runConfig, LABELS.composeFile].find((label) => pulledNow.labels[label] !== judged[label])
      if (differs) throw new OperationError(`${reference}: the image pulled for this engine's platform is not the one read (its label ${differs} differs); what was pulled is removed again`)
      return loaded
    },
    volume: () => {
      throw new OperationError('a registry import carries no volumes')
    },
    discard: async () => {
      if (pulled && backend) await backend.discardSnapshot(loaded)
    },
  }
}
