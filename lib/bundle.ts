// A bundle: one tar file holding the snapshot payload and, after it, a small manifest with the
// payload's sha256. The manifest goes last so the payload streams straight to disk in one pass;
// the payload's header is written when its size is known.
import { randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { open, rename, rm, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { Readable, Writable } from 'node:stream'
import { finished, pipeline } from 'node:stream/promises'
import * as z from 'zod/mini'
import './schema.ts'
import { UsageError, registerCleanup } from './cli.ts'
import { COMPRESSIONS } from './compression.ts'
import { meter } from './pipeline.ts'
import { BACKENDS, metadataSchema } from './state.ts'
import { isValidSlug } from './slug.ts'
import { BLOCK, padding, parseHeader, tarHeader } from './tar.ts'

export const BUNDLE_FORMAT = 'bottle-tasks-bundle'
export const BUNDLE_VERSION = 1
const MANIFEST_NAME = 'manifest.json'
const MAX_MANIFEST_BYTES = 1024 * 1024
const SHA256 = /^[0-9a-f]{64}$/

export const manifestSchema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  version: z.literal(BUNDLE_VERSION),
  slug: z.string().check(z.refine(isValidSlug, 'not a valid slug')),
  backend: z.enum(BACKENDS),
  /** The snapshot's reference on the host it came from. */
  snapshot: z.string().check(z.minLength(1), z.maxLength(512)),
  createdAt: z.string(),
  metadata: metadataSchema,
  payload: z.object({
    name: z.string().check(z.regex(/^snapshot\.[a-z.]+$/)),
    compression: z.enum(COMPRESSIONS),
    size: z.int().check(z.nonnegative(), z.maximum(Number.MAX_SAFE_INTEGER)),
    sha256: z.string().check(z.regex(SHA256)),
  }),
  /** With `--base`: layers left out because the target has them in this image. */
  base: z.nullable(
    z.object({
      image: z.string().check(z.minLength(1), z.maxLength(512)),
      layers: z.array(z.string().check(z.regex(/^sha256:[0-9a-f]{64}$/))).check(z.maxLength(1000)),
    }),
  ),
})
export type BundleManifest = z.infer<typeof manifestSchema>

export interface BundleLocation {
  file: string
  manifest: BundleManifest
  payloadOffset: number
}

/**
 * Write `file` atomically: `produce` streams the payload into the writable it is given; the file
 * appears under its name only when complete. Returns the manifest as written.
 */
export async function writeBundle(
  file: string,
  manifestFor: (payload: { size: number; sha256: string }) => BundleManifest,
  produce: (sink: Writable) => Promise<void>,
  onProgress?: (bytes: number, elapsedMs: number) => void,
): Promise<BundleManifest> {
  const partial = join(dirname(file), `.${basename(file)}.partial-${randomBytes(4).toString('hex')}`)
  const forgetPartial = registerCleanup(() => rm(partial, { force: true }))
  const handle = await open(partial, 'w', 0o644)
  try {
    await handle.write(Buffer.alloc(BLOCK), 0, BLOCK, 0)
    const counted = meter(onProgress)
    const payloadFile = createWriteStream('', { fd: handle.fd, start: BLOCK, autoClose: false, highWaterMark: 4 << 20 })
    const writing = pipeline(counted.transform, payloadFile)
    const producing = produce(counted.transform).catch((error: unknown) => {
      counted.transform.destroy(error as Error) // so the write side settles too
      throw error
    })
    const [produced, written] = await Promise.allSettled([producing, writing])
    // A disk error (ENOSPC) explains more than the broken pipe it causes upstream.
    if (written.status === 'rejected') throw written.reason
    if (produced.status === 'rejected') throw produced.reason
    const manifest = manifestFor({ size: counted.bytes, sha256: counted.sha256() })
    const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)
    let position = BLOCK + counted.bytes
    for (const chunk of [
      Buffer.alloc(padding(counted.bytes)),
      tarHeader(MANIFEST_NAME, manifestBytes.length),
      manifestBytes,
      Buffer.alloc(padding(manifestBytes.length) + 2 * BLOCK),
    ]) {
      await handle.write(chunk, 0, chunk.length, position)
      position += chunk.length
    }
    await handle.write(tarHeader(manifest.payload.name, counted.bytes), 0, BLOCK, 0)
    // No fsync before the rename: like `docker save -o` we leave flushing to the kernel. A bundle
    // cut short by a power loss is refused at import (size and sha256), and its source is intact.
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

/** Read and check the manifest without reading the payload. Anything malformed is bad input (exit 2). */
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
    const payload = await headerAt(handle, 0, bad)
    if (!payload || !/^snapshot\.[a-z.]+$/.test(payload.name)) throw bad('it does not start with a snapshot payload')
    const manifestOffset = BLOCK + payload.size + padding(payload.size)
    if (manifestOffset + BLOCK > fileSize) throw bad('it is truncated')
    const entry = await headerAt(handle, manifestOffset, bad)
    if (!entry || entry.name !== MANIFEST_NAME) throw bad('no manifest after the payload')
    if (entry.size > MAX_MANIFEST_BYTES) throw bad(`manifest of ${entry.size} bytes is absurdly large`)
    if (manifestOffset + BLOCK + entry.size > fileSize) throw bad('it is truncated')
    const text = Buffer.alloc(entry.size)
    await handle.read(text, 0, entry.size, manifestOffset + BLOCK)
    let parsed: unknown
    try {
      parsed = JSON.parse(text.toString('utf8'))
    } catch {
      throw bad('its manifest is not JSON')
    }
    const version = (parsed as { version?: unknown })?.version
    if (typeof version === 'number' && version !== BUNDLE_VERSION) throw bad(`format version ${version} is not supported (this tool reads version ${BUNDLE_VERSION})`)
    const result = manifestSchema.safeParse(parsed)
    if (!result.success) {
      const issue = result.error.issues[0]
      throw bad(`manifest field ${issue?.path.join('.') || '(root)'}: ${issue?.message}`)
    }
    const manifest = result.data
    if (manifest.payload.size !== payload.size || manifest.payload.name !== payload.name) throw bad('the manifest does not describe the payload')
    return { file, manifest, payloadOffset: BLOCK }
  } finally {
    await handle.close()
  }
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

export function payloadStream(bundle: BundleLocation): Readable {
  const { payloadOffset, manifest } = bundle
  if (manifest.payload.size === 0) return createReadStream(bundle.file, { start: 1, end: 0 })
  return createReadStream(bundle.file, { start: payloadOffset, end: payloadOffset + manifest.payload.size - 1, highWaterMark: 1 << 20 })
}

/** Hash the payload as it is on disk and compare with the manifest, before anything is loaded. */
export async function verifyPayload(bundle: BundleLocation, onProgress?: (bytes: number, elapsedMs: number) => void): Promise<void> {
  const counted = meter(onProgress)
  const stream = payloadStream(bundle).pipe(counted.transform)
  stream.resume()
  await finished(stream)
  if (counted.bytes !== bundle.manifest.payload.size || counted.sha256() !== bundle.manifest.payload.sha256) {
    throw new UsageError(`${bundle.file} is corrupt: the payload's sha256 does not match its manifest; nothing was loaded`)
  }
}
