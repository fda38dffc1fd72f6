// Incremental export: drop from a `docker save` stream the layers the target already has.
// `docker load` looks a layer up by its chain before it reads the layer's file, so a layer the
// target has does not need to travel. Legacy archives (engines < 25) name layer files by a v1 id,
// not by content, so each layer is hashed on the way through to recognise it.
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { registerCleanup } from './cleanup.ts'
import { UsageError } from './errors.ts'
import { BLOCK, padding, parseHeader } from './tar.ts'

/** Reads exact byte counts out of a stream of chunks. */
class ByteReader {
  private buffered: Buffer[] = []
  private bufferedBytes = 0
  private readonly source: AsyncIterator<Buffer>

  constructor(input: AsyncIterable<Buffer>) {
    this.source = input[Symbol.asyncIterator]()
  }

  async read(count: number): Promise<Buffer> {
    while (this.bufferedBytes < count) {
      const next = await this.source.next()
      if (next.done) break
      this.buffered.push(next.value)
      this.bufferedBytes += next.value.length
    }
    const all = Buffer.concat(this.buffered)
    const taken = all.subarray(0, count)
    this.buffered = all.length > count ? [all.subarray(count)] : []
    this.bufferedBytes = all.length - taken.length
    return taken
  }

  /** The next `count` bytes as chunks, without gathering them. */
  async *chunks(count: number): AsyncGenerator<Buffer> {
    let left = count
    while (left > 0) {
      let chunk: Buffer
      if (this.bufferedBytes > 0) {
        chunk = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered)
        this.buffered = []
        this.bufferedBytes = 0
      } else {
        const next = await this.source.next()
        if (next.done) throw new Error('docker save output ended in the middle of a file')
        chunk = next.value
      }
      if (chunk.length > left) {
        this.buffered = [chunk.subarray(left)]
        this.bufferedBytes = chunk.length - left
        chunk = chunk.subarray(0, left)
      }
      left -= chunk.length
      yield chunk
    }
  }
}

const OCI_BLOB = /^blobs\/sha256\/([0-9a-f]{64})$/
const isLegacyLayer = (name: string) => /^[0-9a-f]{64}\/layer\.tar$/.test(name)

export interface LayerFilterResult {
  droppedLayers: number
}

/**
 * A copy of the `docker save` tar stream without the layers whose diff id is in `drop`.
 * Layers are hashed through a temp file in `tempDir` (never held in memory).
 */
export function withoutLayers(input: AsyncIterable<Buffer>, drop: Set<string>, tempDir: string, result: LayerFilterResult): Readable {
  return Readable.from(filterTar(new ByteReader(input), drop, tempDir, result), { objectMode: false })
}

async function* filterTar(reader: ByteReader, drop: Set<string>, tempDir: string, result: LayerFilterResult): AsyncGenerator<Buffer> {
  for (;;) {
    const block = await reader.read(BLOCK)
    if (block.length < BLOCK) throw new Error('docker save output ended without an end-of-archive marker')
    const entry = parseHeader(block)
    if (!entry) {
      yield block
      for await (const rest of reader.chunks(BLOCK)) yield rest
      return
    }
    const stored = entry.size + padding(entry.size)
    const blob = OCI_BLOB.exec(entry.name)
    if (blob && drop.has(`sha256:${blob[1]}`)) {
      for await (const _ of reader.chunks(stored)) void _
      result.droppedLayers++
      continue
    }
    if (entry.type === '0' && isLegacyLayer(entry.name) && drop.size > 0) {
      const kept = await hashLayer(reader, entry.size, drop, tempDir)
      if (!kept) {
        for await (const _ of reader.chunks(padding(entry.size))) void _
        result.droppedLayers++
        continue
      }
      yield block
      yield* kept()
      for await (const pad of reader.chunks(padding(entry.size))) yield pad
      continue
    }
    yield block
    yield* reader.chunks(stored)
  }
}

/** Hash a layer into a temp file; undefined when it is to be dropped, else a replay of its bytes. */
async function hashLayer(reader: ByteReader, size: number, drop: Set<string>, tempDir: string): Promise<(() => AsyncGenerator<Buffer>) | undefined> {
  const temp = join(tempDir, `.bottle-layer-${randomBytes(6).toString('hex')}`)
  const forget = registerCleanup(() => rm(temp, { force: true }))
  const hash = createHash('sha256')
  const out = createWriteStream(temp)
  for await (const chunk of reader.chunks(size)) {
    hash.update(chunk)
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()))
  }
  out.end()
  await finished(out)
  if (drop.has(`sha256:${hash.digest('hex')}`)) {
    await rm(temp, { force: true })
    forget()
    return undefined
  }
  return async function* replay() {
    try {
      for await (const chunk of createReadStream(temp, { highWaterMark: 1 << 20 })) yield chunk as Buffer
    } finally {
      await rm(temp, { force: true })
      forget()
    }
  }
}

/**
 * The layers an export with `--base IMAGE` leaves out: the base's, when the snapshot was built on it.
 * A layer that also appears above the base must travel: docker load needs it there.
 */
export function layersToLeaveOut(snapshot: string[], base: string[] | undefined, image: string): string[] {
  if (!base) throw new UsageError(`--base image ${image} is not on this host`)
  if (base.some((layer, i) => snapshot[i] !== layer)) throw new UsageError(`the snapshot was not built on ${image}: its layers do not start with that image's`)
  const above = new Set(snapshot.slice(base.length))
  return base.filter((layer) => !above.has(layer))
}

/** On import: this host must have the layers a bundle left out, in the image it names. */
export function verifyBaseLayers(base: { image: string; layers: string[] }, present: string[] | undefined): void {
  if (!present) throw new UsageError(`this bundle leaves out the layers of ${base.image}, which is not on this host: load or pull ${base.image} first, or export without --base`)
  const missing = base.layers.filter((layer) => !present.includes(layer))
  if (missing.length > 0) throw new UsageError(`${base.image} on this host lacks ${missing.length} of the layers the bundle left out (a different version?): bring the same ${base.image}, or export without --base`)
}
