// Image names inside a snapshot payload are the sender's word, not ours: `docker load` applies the
// RepoTags of manifest.json (and, before engine 25, the `repositories` file), the containerd image
// store the name annotations of index.json, Apple's `container image load` those annotations too.
// A payload naming debian:bookworm-slim, or another bottle's snapshot, would repoint that name on
// this host. So the archive is copied on its way to the engine (streamed: only these small JSON
// members are held, each at most 1 MiB) naming nothing, or only the name import chose; every other
// member's bytes pass unchanged. Headers are written anew (tar-stream), so the engine reads exactly
// the names and sizes judged here, whatever extensions the sender's headers used.
import { Duplex, PassThrough, Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Header } from 'tar-stream'
import { UsageError } from './errors.ts'

const MAX_JSON_BYTES = 1024 * 1024
/** Where engines read an image name in a descriptor of index.json. */
const NAME_ANNOTATIONS = ['io.containerd.image.name', 'org.opencontainers.image.ref.name', 'com.apple.containerization.image.name']
/** What `docker save` and `container image save` write: plain files, directories, links. */
const MEMBER_TYPES = new Set(['file', 'directory', 'symlink', 'link'])
const REWRITTEN: Record<string, (text: string, name: string | undefined) => string> = {
  'manifest.json': manifestNaming,
  'index.json': indexNaming,
}
const DROPPED = new Set(['repositories'])

/** A copy of a `docker save` archive that names no image (docker load then says "Loaded image ID"). */
export const withoutImageNames = (): Duplex => renaming(undefined)

/** A copy of an OCI archive whose only image name is `reference` (Apple's loader needs one). */
export const namedOnly = (reference: string): Duplex => renaming(reference)

function renaming(name: string | undefined): Duplex {
  const input = new PassThrough({ highWaterMark: 1 << 20 })
  const output = new PassThrough({ highWaterMark: 1 << 20 })
  const copy = Duplex.from({ writable: input, readable: output })
  // Only the copy is ever failed, and first: its error is the refusal, not a "premature close" of
  // the streams behind it.
  rewrite(input, output, name, copy).catch((error: unknown) => copy.destroy(error instanceof UsageError ? error : refuse(`it is not a tar archive as docker save writes one (${(error as Error).message})`)))
  return copy
}

async function rewrite(input: Readable, output: PassThrough, name: string | undefined, copy: Duplex): Promise<void> {
  // Loaded when a payload is: not at start-up.
  const tar = await import('tar-stream')
  const extract = tar.extract()
  const pack = tar.pack()
  const teardown = () => {
    extract.destroy()
    pack.destroy()
  }
  if (copy.destroyed) return teardown()
  copy.once('close', teardown)
  forward(input, extract)
  forward(pack, output)
  const members = new Members()
  for await (const entry of extract) {
    const path = members.admit(entry.header)
    const header: Header = { ...entry.header, name: entry.header.type === 'directory' ? `${path}/` : path, pax: null }
    if (DROPPED.has(path)) {
      entry.resume()
      continue
    }
    const naming = REWRITTEN[path]
    if (!naming) {
      await pipeline(entry, pack.entry(header))
      continue
    }
    const rewritten = Buffer.from(naming(await smallMember(entry, path, entry.header.size), name))
    await pipeline(Readable.from([rewritten]), pack.entry({ ...header, size: rewritten.length }))
  }
  pack.finalize()
}

/** The stream methods `forward` uses, which Node's streams and tar-stream's (streamx) share. */
interface Emitter {
  on(event: string, listener: (...args: any[]) => void): unknown
}

/** `from` into `to` with backpressure, and its end; a failure on either side is not passed on (see renaming). */
function forward(from: Emitter & { pause(): unknown; resume(): unknown }, to: Emitter & { write(chunk: Buffer): boolean; end(data?: unknown): unknown }): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause()
  })
  to.on('drain', () => from.resume())
  from.on('end', () => to.end())
}

const refuse = (why: string) => new UsageError(`the snapshot payload is refused: ${why}; nothing was loaded from it`)

/**
 * Judges each member's name as the engines will read it, and keeps what was seen: a name may come
 * once (compared as a case-insensitive file system would: Apple's loader unpacks on one), never
 * through a symlink (a member `d/manifest.json` after a symlink `d` → `.` replaces manifest.json),
 * and the members rewritten here must be plain files.
 */
class Members {
  private readonly seen = new Set<string>()
  private readonly symlinks = new Set<string>()

  admit(header: Header): string {
    const path = cleanPath(header.name)
    if (!MEMBER_TYPES.has(header.type)) throw refuse(`member ${JSON.stringify(header.name)} is a ${header.type ?? 'member of an unknown type'}, which docker save never writes`)
    // Readers differ on whether such a header's data follows it: none may.
    if (header.type !== 'file' && header.size > 0) throw refuse(`member ${JSON.stringify(header.name)} is a ${header.type} with data`)
    const folded = fold(path)
    if (this.seen.has(folded)) throw refuse(`member ${path} appears twice`)
    this.seen.add(folded)
    const parts = folded.split('/')
    const through = parts.slice(0, -1).findIndex((_, i) => this.symlinks.has(parts.slice(0, i + 1).join('/')))
    if (through !== -1) throw refuse(`member ${path} lies under the symlink ${parts.slice(0, through + 1).join('/')}`)
    if (header.type === 'symlink') this.symlinks.add(folded)
    const named = [...Object.keys(REWRITTEN), ...DROPPED].find((special) => special === folded)
    if (named && (path !== named || header.type !== 'file')) throw refuse(`member ${path} stands for ${named} but is not a plain file of that name`)
    return path
  }
}

/** The member's path as Go's path.Clean reads it; one that leaves the archive is refused. */
function cleanPath(name: string): string {
  if (name.startsWith('/') || name.includes('\0')) throw refuse(`member name ${JSON.stringify(name)} is not a relative path`)
  const parts: string[] = []
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue
    if (part !== '..') parts.push(part)
    else if (parts.pop() === undefined) throw refuse(`member name ${JSON.stringify(name)} leaves the archive`)
  }
  if (parts.length === 0) throw refuse(`member name ${JSON.stringify(name)} names no file`)
  return parts.join('/')
}

/** Case-insensitive as APFS (and Go's JSON keys, below) compare: "K" (Kelvin) is k, "ſ" is s. */
const fold = (text: string) => text.normalize('NFC').toUpperCase().toLowerCase()

async function smallMember(entry: AsyncIterable<unknown>, path: string, size: number): Promise<string> {
  if (size > MAX_JSON_BYTES) throw refuse(`${path} of ${size} bytes is absurdly large`)
  const chunks: Buffer[] = []
  for await (const chunk of entry) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function parsedJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw refuse(`${path} is not JSON`)
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * The keys of `object` Go's encoding/json would take for the field `field`: it matches keys to
 * fields without regard to case ("repotags", "RepoTagſ" are RepoTags too), the last one winning.
 */
const keysFor = (object: Record<string, unknown>, field: string) => Object.keys(object).filter((key) => fold(key) === field.toLowerCase())

/** manifest.json: one image, with RepoTags of only `name`, or none (null, as docker save writes an image saved by id). */
function manifestNaming(text: string, name: string | undefined): string {
  const images = parsedJson(text, 'manifest.json')
  if (!Array.isArray(images) || images.length !== 1 || !isObject(images[0])) throw refuse('manifest.json does not describe exactly one image')
  const image = images[0]
  for (const key of keysFor(image, 'RepoTags')) delete image[key]
  image.RepoTags = name === undefined ? null : [name]
  return JSON.stringify(images)
}

/** index.json: one image, its descriptor annotated with only `name`, or with no name. */
function indexNaming(text: string, name: string | undefined): string {
  const index = parsedJson(text, 'index.json')
  if (!isObject(index)) throw refuse('index.json is not an image index')
  const lists = keysFor(index, 'manifests')
  const descriptors = lists.length === 1 ? index[lists[0]!] : undefined
  if (!Array.isArray(descriptors) || descriptors.length !== 1 || !isObject(descriptors[0])) throw refuse('index.json does not list exactly one image')
  const descriptor = descriptors[0]
  const annotationKeys = keysFor(descriptor, 'annotations')
  if (annotationKeys.length > 1) throw refuse('index.json gives its image two sets of annotations')
  const annotations = annotationKeys.length === 1 ? descriptor[annotationKeys[0]!] : {}
  if (annotations !== null && !isObject(annotations)) throw refuse('index.json has annotations that are not a map')
  const kept = Object.fromEntries(Object.entries(annotations ?? {}).filter(([key]) => !NAME_ANNOTATIONS.includes(key)))
  for (const key of annotationKeys) delete descriptor[key]
  const named = name === undefined ? kept : { ...kept, ...Object.fromEntries(NAME_ANNOTATIONS.map((key) => [key, name])) }
  if (Object.keys(named).length > 0) descriptor.annotations = named
  return JSON.stringify(index)
}
