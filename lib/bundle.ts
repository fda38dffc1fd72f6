// A bundle: one plain tar file. The snapshot payload first, then each named volume, then files of the
// state dir (a compose file), then a small manifest with every member's size and sha256. The
// manifest goes last so each member streams straight to disk in one pass; a member's header is
// written when its size is known. Version 1 bundles (snapshot + manifest) are still read.
import { randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { open, rename, rm, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { Readable, Writable } from 'node:stream'
import { finished, pipeline } from 'node:stream/promises'
import * as z from 'zod/mini'
import './schema.ts'
import { registerCleanup } from './cleanup.ts'
import { COMPRESSIONS, type Compression } from './compression.ts'
import { UsageError } from './errors.ts'
import { meter, type Meter } from './pipeline.ts'
import { runConfigSchema } from './run-config.ts'
import { BACKENDS, metadataSchema, type Backend, type Metadata } from './state.ts'
import { isValidSlug } from './slug.ts'
import { BLOCK, padding, parseHeader, tarHeader, type TarEntry } from './tar.ts'
import type { RunConfig } from './run-config.ts'

export const BUNDLE_FORMAT = 'bottle-tasks-bundle'
export const BUNDLE_VERSION = 2
const READABLE_VERSIONS = [1, 2]
const MANIFEST_NAME = 'manifest.json'
/** The SSH signature of the manifest's bytes (export --sign), the member after it. */
const SIGNATURE_NAME = 'manifest.json.sig'
const MAX_SIGNATURE_BYTES = 16 * 1024
const MAX_MANIFEST_BYTES = 1024 * 1024
/** What may follow the manifest: end-of-archive zeros, padded as tar(1) pads its records. */
const MAX_TRAILER_BYTES = 64 * 1024
const SHA256 = /^[0-9a-f]{64}$/
const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/
const STATE_FILES = ['docker-compose.yml', 'Dockerfile'] as const

const digest = { size: z.int().check(z.nonnegative(), z.maximum(Number.MAX_SAFE_INTEGER)), sha256: z.string().check(z.regex(SHA256)) }

export const manifestSchema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  version: z.union([z.literal(1), z.literal(2)]),
  slug: z.string().check(z.refine(isValidSlug, 'not a valid slug')),
  backend: z.enum(BACKENDS),
  /** The snapshot's reference on the host it came from. */
  snapshot: z.string().check(z.minLength(1), z.maxLength(512)),
  createdAt: z.string(),
  metadata: metadataSchema,
  payload: z.object({ name: z.string().check(z.regex(/^snapshot\.[a-z.]+$/)), compression: z.enum(COMPRESSIONS), ...digest }),
  /** With `--base`: layers left out because the target has them in this image. */
  base: z.nullable(
    z.object({
      image: z.string().check(z.minLength(1), z.maxLength(512)),
      layers: z.array(z.string().check(z.regex(/^sha256:[0-9a-f]{64}$/))).check(z.maxLength(1000)),
      /** What the source engine's docker save wrote: engines with the containerd image store load a legacy archive only whole. */
      archive: z.optional(z.enum(['docker-legacy', 'oci-layout'])),
    }),
  ),
  /** How the bottle ran (version 2): what resume on the other host reproduces. */
  runConfig: z.optional(z.nullable(runConfigSchema)),
  /** Named volumes: carried ones (each its own member) and, with --no-volumes, the ones left out. */
  volumes: z.optional(
    z.object({
      carried: z.array(z.object({ name: z.string().check(z.regex(VOLUME_NAME)), target: z.string(), member: z.string().check(z.regex(/^volumes\/[A-Za-z0-9_.-]+\.tar(\.zst|\.gz)?$/)), ...digest })).check(z.maxLength(256)),
      leftOut: z.array(z.string().check(z.regex(VOLUME_NAME))).check(z.maxLength(256)),
    }),
  ),
  /** Host paths the bottle bind-mounted: never carried, listed so the other host knows. */
  binds: z.optional(z.array(z.string().check(z.maxLength(4096))).check(z.maxLength(256))),
  /** Files of the state dir that travel (a compose bottle's docker-compose.yml, a per-bottle Dockerfile). */
  files: z.optional(z.array(z.object({ name: z.enum(STATE_FILES), member: z.string().check(z.regex(/^state\/[A-Za-z.-]+$/)), ...digest })).check(z.maxLength(16))),
})
export type BundleManifest = z.infer<typeof manifestSchema>
export type StateFileName = (typeof STATE_FILES)[number]
export const BUNDLED_STATE_FILES = STATE_FILES

/** Everything a manifest says, apart from what writing the members measures. */
export interface ManifestInput {
  slug: string
  backend: Backend
  snapshot: string
  metadata: Metadata
  compression: Compression
  payloadName: string
  base: BundleManifest['base']
  runConfig: RunConfig | null
  volumes: Array<{ name: string; target: string }>
  leftOutVolumes: string[]
  binds: string[]
  files: StateFileName[]
}

export interface Member {
  name: string
  produce: (sink: Writable) => Promise<void>
}

export const volumeMember = (name: string, compression: Compression) => `volumes/${name}.tar${{ zstd: '.zst', gzip: '.gz', none: '' }[compression]}`
export const fileMember = (name: StateFileName) => `state/${name}`

/** The manifest of a bundle whose members were written with these sizes and digests, in order. */
export function bundleManifest(input: ManifestInput, written: Map<string, { size: number; sha256: string }>): BundleManifest {
  const measured = (member: string) => written.get(member)!
  return {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    slug: input.slug,
    backend: input.backend,
    snapshot: input.snapshot,
    createdAt: new Date().toISOString(),
    metadata: input.metadata,
    payload: { name: input.payloadName, compression: input.compression, ...measured(input.payloadName) },
    base: input.base,
    runConfig: input.runConfig,
    volumes: {
      carried: input.volumes.map((volume) => {
        const member = volumeMember(volume.name, input.compression)
        return { name: volume.name, target: volume.target, member, ...measured(member) }
      }),
      leftOut: input.leftOutVolumes,
    },
    binds: input.binds,
    files: input.files.map((name) => ({ name, member: fileMember(name), ...measured(fileMember(name)) })),
  }
}

/**
 * Write `file` atomically: each member streams into the writable it is given, one after the other;
 * the file appears under its name only when complete. Returns the manifest as written.
 */
export async function writeBundle(
  file: string,
  members: Member[],
  manifestFor: (written: Map<string, { size: number; sha256: string }>) => BundleManifest,
  { onProgress, sign }: { onProgress?: (member: string, bytes: number) => void; sign?: (manifest: Buffer) => Promise<string> } = {},
): Promise<BundleManifest> {
  const partial = join(dirname(file), `.${basename(file)}.partial-${randomBytes(4).toString('hex')}`)
  const forgetPartial = registerCleanup(() => rm(partial, { force: true }))
  const handle = await open(partial, 'w', 0o644)
  try {
    const written = new Map<string, { size: number; sha256: string }>()
    let position = 0
    for (const member of members) {
      const counted = meter((bytes) => onProgress?.(member.name, bytes))
      const sink = createWriteStream('', { fd: handle.fd, start: position + BLOCK, autoClose: false, highWaterMark: 4 << 20 })
      const writing = pipeline(counted.transform, sink)
      const producing = member.produce(counted.transform).catch((error: unknown) => {
        counted.transform.destroy(error as Error) // so the write side settles too
        throw error
      })
      const [produced, wrote] = await Promise.allSettled([producing, writing])
      // A disk error (ENOSPC) explains more than the broken pipe it causes upstream.
      if (wrote.status === 'rejected') throw wrote.reason
      if (produced.status === 'rejected') throw produced.reason
      await writeAt(handle, tarHeader(member.name, counted.bytes), position)
      await writeAt(handle, Buffer.alloc(padding(counted.bytes)), position + BLOCK + counted.bytes)
      written.set(member.name, { size: counted.bytes, sha256: counted.sha256() })
      position += BLOCK + counted.bytes + padding(counted.bytes)
    }
    const manifest = manifestFor(written)
    const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)
    const signature = sign ? Buffer.from(await sign(manifestBytes)) : undefined
    const signed = signature ? [tarHeader(SIGNATURE_NAME, signature.length), signature, Buffer.alloc(padding(signature.length))] : []
    for (const chunk of [tarHeader(MANIFEST_NAME, manifestBytes.length), manifestBytes, Buffer.alloc(padding(manifestBytes.length)), ...signed, Buffer.alloc(2 * BLOCK)]) {
      await writeAt(handle, chunk, position)
      position += chunk.length
    }
    // No fsync before the rename: like `docker save -o` we leave flushing to the kernel. A bundle
    // cut short by a power loss is refused at import (sizes and sha256), and its source is intact.
    await handle.close()
    await rename(partial, file)
    forgetPartial()
    return manifest
  } catch (error) {
    await handle.close().catch(() => {})
    await rm(partial, { force: true })
    forgetPartial()
    throw error
  }
}

async function writeAt(handle: FileHandle, chunk: Buffer, position: number): Promise<void> {
  await handle.write(chunk, 0, chunk.length, position)
}

export interface BundleLocation {
  file: string
  manifest: BundleManifest
  /** The manifest as written: what a signature signs. */
  manifestBytes: Buffer
  /** The signature of the manifest, when the bundle was signed. */
  signature?: string
  /** Where each member's data starts, and its size. */
  members: Map<string, { offset: number; size: number }>
}

/** Read and check the manifest without reading the members. Anything malformed is bad input (exit 2). */
export async function readBundle(file: string): Promise<BundleLocation> {
  let handle: FileHandle
  try {
    handle = await open(file, 'r')
  } catch {
    throw new UsageError(`no such bundle file: ${file}`)
  }
  const bad = (why: string) => new UsageError(`${file} is not a usable bundle: ${why}`)
  try {
    const { size: fileSize } = await handle.stat()
    const members = new Map<string, { offset: number; size: number }>()
    let offset = 0
    for (;;) {
      if (offset + BLOCK > fileSize) throw bad('it is truncated')
      const entry = await headerAt(handle, offset, bad)
      if (!entry) throw bad('no manifest at its end')
      if (members.size === 0 && !/^snapshot\.[a-z.]+$/.test(entry.name)) throw bad('it does not start with a snapshot payload')
      if (offset + BLOCK + entry.size > fileSize) throw bad('it is truncated')
      checkMemberHeader(entry, members, bad)
      if (entry.name === MANIFEST_NAME) {
        if (entry.size > MAX_MANIFEST_BYTES) throw bad(`manifest of ${entry.size} bytes is absurdly large`)
        const { manifest, bytes: manifestBytes } = await readManifest(handle, offset + BLOCK, entry.size, bad)
        let after = offset + BLOCK + entry.size + padding(entry.size)
        // A signed bundle's signature of the manifest follows it (export --sign).
        const next = after + BLOCK <= fileSize ? await headerAt(handle, after, bad).catch(() => undefined) : undefined
        let signature: string | undefined
        if (next?.name === SIGNATURE_NAME) {
          checkMemberHeader(next, members, bad)
          if (next.size > MAX_SIGNATURE_BYTES || after + BLOCK + next.size > fileSize) throw bad(`its ${SIGNATURE_NAME} is not a signature`)
          const text = Buffer.alloc(next.size)
          await handle.read(text, 0, next.size, after + BLOCK)
          signature = text.toString('utf8')
          after += BLOCK + next.size + padding(next.size)
        }
        await checkNothingAfter(handle, after, fileSize, bad)
        checkMembers(manifest, members, bad)
        return { file, manifest, manifestBytes, members, ...(signature === undefined ? {} : { signature }) }
      }
      if (members.size >= 600) throw bad(`unexpected member ${entry.name}`)
      members.set(entry.name, { offset: offset + BLOCK, size: entry.size })
      offset += BLOCK + entry.size + padding(entry.size)
    }
  } finally {
    await handle.close()
  }
}

/**
 * A member is a plain file under a plain relative name, and no name comes twice: tar(1) and other
 * readers keep the last of two members of one name, this reader the first, so a second copy (a
 * second manifest.json) could say one thing here and another to them.
 */
function checkMemberHeader(entry: TarEntry, members: Map<string, unknown>, bad: (why: string) => Error): void {
  if (members.has(entry.name)) throw bad(`member ${entry.name} appears twice`)
  if (entry.type !== '0') throw bad(`member ${entry.name} is not a plain file (tar type ${JSON.stringify(entry.type)})`)
  const segments = entry.name.split('/')
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..') || /[\0-\x1f\x7f\\]/.test(entry.name)) {
    throw bad(`member name ${JSON.stringify(entry.name)} is not a plain relative path`)
  }
}

/**
 * The manifest ends the bundle: only the end-of-archive blocks (zeros) may follow it. Whatever
 * followed would be read by other tools (a second manifest.json wins in tar(1)) and never checked here.
 */
async function checkNothingAfter(handle: FileHandle, offset: number, fileSize: number, bad: (why: string) => Error): Promise<void> {
  if (fileSize <= offset) return
  if (fileSize - offset > MAX_TRAILER_BYTES) throw bad('data follows its manifest')
  const trailer = Buffer.alloc(fileSize - offset)
  await handle.read(trailer, 0, trailer.length, offset)
  const firstByte = trailer.findIndex((byte) => byte !== 0)
  if (firstByte === -1) return
  const block = trailer.subarray(firstByte - (firstByte % BLOCK), firstByte - (firstByte % BLOCK) + BLOCK)
  let name: string | undefined
  try {
    name = parseHeader(block)?.name
  } catch {
    // Not a member: junk, named as such below.
  }
  if (name === undefined) throw bad('data follows its manifest')
  throw bad(name === MANIFEST_NAME ? `member ${MANIFEST_NAME} appears twice` : `member ${name} follows the manifest`)
}

async function readManifest(handle: FileHandle, offset: number, size: number, bad: (why: string) => Error): Promise<{ manifest: BundleManifest; bytes: Buffer }> {
  const text = Buffer.alloc(size)
  await handle.read(text, 0, size, offset)
  let parsed: unknown
  try {
    parsed = JSON.parse(text.toString('utf8'))
  } catch {
    throw bad('its manifest is not JSON')
  }
  const version = (parsed as { version?: unknown } | null)?.version
  if (typeof version === 'number' && !READABLE_VERSIONS.includes(version)) throw bad(`format version ${version} is not supported (this tool reads versions ${READABLE_VERSIONS.join(' and ')})`)
  const result = manifestSchema.safeParse(parsed)
  if (!result.success) {
    const issue = result.error.issues[0]
    throw bad(`manifest field ${issue?.path.join('.') || '(root)'}: ${issue?.message}`)
  }
  return { manifest: result.data, bytes: text }
}

/** Every member the manifest names is there with its size, and nothing else is. */
function checkMembers(manifest: BundleManifest, members: Map<string, { offset: number; size: number }>, bad: (why: string) => Error): void {
  const described = [
    { member: manifest.payload.name, size: manifest.payload.size },
    ...(manifest.volumes?.carried ?? []).map((volume) => ({ member: volume.member, size: volume.size })),
    ...(manifest.files ?? []).map((entry) => ({ member: entry.member, size: entry.size })),
  ]
  if (described.length !== members.size || described.some(({ member, size }) => members.get(member)?.size !== size)) throw bad('the manifest does not describe its members')
  const [first] = members.keys()
  if (first !== manifest.payload.name) throw bad('the manifest does not describe the payload')
}

async function headerAt(handle: FileHandle, offset: number, bad: (why: string) => Error) {
  const block = Buffer.alloc(BLOCK)
  const { bytesRead } = await handle.read(block, 0, BLOCK, offset)
  if (bytesRead !== BLOCK) throw bad('it is truncated')
  try {
    return parseHeader(block)
  } catch (error) {
    throw bad((error as Error).message)
  }
}

/** A member's bytes as they are in the file. */
export function memberStream(bundle: BundleLocation, member: string): Readable {
  const { offset, size } = bundle.members.get(member)!
  if (size === 0) return createReadStream(bundle.file, { start: 1, end: 0 })
  return createReadStream(bundle.file, { start: offset, end: offset + size - 1, highWaterMark: 1 << 20 })
}

export const payloadStream = (bundle: BundleLocation) => memberStream(bundle, bundle.manifest.payload.name)

/** Every member the manifest lists, with the digest it must have. */
export function bundleMembers(manifest: BundleManifest): Array<{ member: string; size: number; sha256: string }> {
  return [
    { member: manifest.payload.name, size: manifest.payload.size, sha256: manifest.payload.sha256 },
    ...(manifest.volumes?.carried ?? []).map(({ member, size, sha256 }) => ({ member, size, sha256 })),
    ...(manifest.files ?? []).map(({ member, size, sha256 }) => ({ member, size, sha256 })),
  ]
}

/**
 * Hash members as they are on disk and compare with the manifest: every member, or those `which`
 * keeps (import checks the snapshot payload as it loads it, in the same read: `checkMember`).
 */
export async function verifyBundle(bundle: BundleLocation, onProgress?: (bytes: number) => void, which: (member: string) => boolean = () => true): Promise<void> {
  let before = 0
  for (const { member, size } of bundleMembers(bundle.manifest).filter(({ member }) => which(member))) {
    const counted = meter((bytes) => onProgress?.(before + bytes))
    const stream = memberStream(bundle, member).pipe(counted.transform)
    stream.resume()
    await finished(stream)
    checkMember(bundle, member, counted, 'nothing was loaded')
    before += size
  }
}

/** Refuse a member whose bytes, as counted and hashed by `meter`, are not what the manifest records. */
export function checkMember(bundle: BundleLocation, member: string, counted: Pick<Meter, 'bytes' | 'sha256'>, outcome: string): void {
  const expected = bundleMembers(bundle.manifest).find((candidate) => candidate.member === member)!
  if (counted.bytes !== expected.size || counted.sha256() !== expected.sha256) {
    throw new UsageError(`${bundle.file} is corrupt: the sha256 of ${member} does not match its manifest; ${outcome}`)
  }
}

/** A state file member's text (small: compose files, Dockerfiles). */
export async function readMemberText(bundle: BundleLocation, member: string): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of memberStream(bundle, member)) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
