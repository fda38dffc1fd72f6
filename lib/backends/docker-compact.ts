// Compact snapshots (docker). `docker commit` of a running container writes everything that
// differs from the container's image, every time: ten commits of a bottle with a 500 MiB diff
// keep ten copies of it. Once a snapshot of the bottle has a file list (lib/file-list.ts), the
// next one is built on it instead: FROM that snapshot, ADD one archive of only the paths that
// changed since (tar in the bottle, while it runs) with a `.wh.` whiteout for each path deleted.
// Every snapshot stays a whole image (its layers are the earlier snapshot's and its own).
import { createWriteStream } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable, type Writable } from 'node:stream'
import * as docker from '../docker.ts'
import { OperationError } from '../errors.ts'
import { planDelta, readFileRecord, writeFileRecord, type Delta, type FileList, type FileRecord } from '../file-list.ts'
import { readHistory } from '../history.ts'
import { runPipeline } from '../pipeline.ts'
import type { WorkDir } from '../workdir.ts'

/**
 * How far before a capture (or a container's creation) a ctime still counts as a change: the
 * kernel stamps ctimes from its coarse clock, which lags the one `date` reads by up to a tick
 * (1-10 ms); a path changed in the margin before a capture is only copied again, never missed.
 */
const MARGIN_SECONDS = 0.1

/** The snapshot a compact commit builds on, and its file list. */
export interface Prior {
  n: number
  image: string
  layers: number
  record: FileRecord
  /** Changes after this (the bottle's clock, seconds) may be missing from it. */
  since: number
  /** Taken from the same container (else: the snapshot it was booted from, or its image). */
  sameContainer: boolean
}

export interface Running {
  /** The container's id, the image it runs from, and when it was made. */
  id: string
  image: string
  created?: string | undefined
}

/**
 * The files of an image, read from `docker export` of a container of it that is created and never
 * started: nothing of the image runs (a snapshot is the agent's own work, and a container of it
 * would run less confined than the bottle did). Versions are mtimes: every path the bottle changed
 * since its container was made is newer than that anyway.
 */
async function imageFiles(image: string): Promise<FileList> {
  const { extract } = await import('tar-stream')
  const files: FileList = new Map()
  const types: Record<string, string> = { file: 'f', 'contiguous-file': 'f', link: 'f', directory: 'd', symlink: 'l', 'character-device': 'c', 'block-device': 'b', fifo: 'p' }
  await docker.withCreatedContainer(image, async (container) => {
    const reader = extract()
    reader.on('entry', (header, stream, next) => {
      const path = `/${header.name.replace(/^\.?\/+/, '').replace(/\/+$/, '')}`
      const type = types[header.type ?? 'file']
      // find's size of a symlink is its target's length; a tar's is 0.
      const size = type === 'l' ? Buffer.byteLength(header.linkname ?? '') : (header.size ?? 0)
      if (type && path !== '/') files.set(path, { type, mode: (header.mode ?? 0) & 0o7777, uid: header.uid ?? 0, gid: header.gid ?? 0, size, version: String((header.mtime?.getTime() ?? 0) / 1000) })
      stream.on('end', next)
      stream.resume()
    })
    await runPipeline([docker.exportArgv(container)], { output: reader as unknown as Writable })
  })
  return files
}

/**
 * The image a bottle runs from as what its first snapshot builds on, when paths are to be kept out
 * of it (a docker commit would hold them): its files as `docker export` has them.
 */
export async function imageAsPrior(image: docker.ImageSummary, running: Running): Promise<Prior> {
  const since = Date.parse(running.created ?? '') / 1000
  if (!Number.isFinite(since)) throw new OperationError(`cannot keep paths out of this bottle's first snapshot: the engine does not say when its container was made`)
  const record = { files: await imageFiles(image.id), container: '', clock: '', exact: true }
  return { n: 0, image: image.id, layers: image.layers.length, record, since: since - MARGIN_SECONDS, sameContainer: false }
}

/**
 * A prior whose list was taken while its `docker commit` ran made exact: the snapshot's own files
 * (imageFiles), with the list's entry wherever a path is of the same type in both. (Without this,
 * a file made between the listing and the commit, then deleted, would stay in every later
 * snapshot.) Kept for the next time (and for diff).
 */
export async function exactPrior(slug: string, prior: Prior): Promise<Prior> {
  if (prior.record.exact) return prior
  const listed = await imageFiles(prior.image)
  const mounts = [...prior.record.files].filter(([, entry]) => entry.type === 'm').map(([path]) => `${path}/`)
  for (const [path, entry] of listed) {
    const recorded = prior.record.files.get(path)
    // A mount point of the bottle stays one (what is under it is not the bottle's to list or delete).
    if (recorded && (recorded.type === entry.type || recorded.type === 'm')) listed.set(path, recorded)
    else if (mounts.some((mount) => path.startsWith(mount))) listed.delete(path)
  }
  const record = { ...prior.record, files: listed, exact: true }
  if (prior.n > 0) await writeFileRecord(slug, prior.n, record)
  return { ...prior, record }
}

/**
 * The snapshot of the bottle a compact commit can build on: the newest one captured from this same
 * container, or else the one the container was booted from (resume). Undefined when neither has
 * a file list or its image is gone.
 */
export async function findPrior(slug: string, running: Running): Promise<Prior | undefined> {
  const history = (await readHistory(slug)).reverse()
  const same = history.find((entry) => entry.container === running.id)
  const bootedFrom = history.find((entry) => entry.image === running.image)
  const chosen = same ?? bootedFrom
  if (!chosen?.image) return undefined
  const [record, image] = await Promise.all([readFileRecord(slug, chosen.n), docker.inspectImageIfPresent(chosen.image)])
  if (!record || !image) return undefined
  const since = same ? Number(record.clock) : Date.parse(running.created ?? '') / 1000
  if (!Number.isFinite(since)) return undefined
  return { n: chosen.n, image: image.id, layers: image.layers.length, record, since: since - MARGIN_SECONDS, sameContainer: Boolean(same) }
}

/** What a `docker commit` would write now: the bytes of the files changed since the container was made. */
export function rewriteOf(files: FileList, running: Running): number {
  const made = Date.parse(running.created ?? '') / 1000
  let bytes = 0
  for (const entry of files.values()) if (entry.type === 'f' && !(Number(entry.version) <= made)) bytes += entry.size
  return bytes
}

/** What a snapshot built on `prior` has to add, and the file list it will have. */
export function deltaOver(prior: Prior, now: FileList, excluded?: (path: string) => boolean): Delta {
  return planDelta(prior.record.files, now, prior.since, excluded)
}

/**
 * Build the snapshot `tag`: FROM the prior snapshot, the changed paths tarred out of the running
 * container, whiteouts first (tar-stream), then `instructions` (LABEL, ENV). Returns the image id.
 */
export async function buildCompact(container: string, tag: string, prior: Prior, delta: Delta, instructions: string[], work: WorkDir): Promise<string> {
  const archive = join(work.path, 'delta.tar')
  const hasLayer = delta.include.length > 0 || delta.remove.length > 0
  if (hasLayer) {
    const out = createWriteStream(archive)
    out.write(await whiteouts(delta.remove))
    // GNU tar in the bottle: names as given (NUL-separated, relative to /), no recursion (the list
    // has every path), numeric owners, xattrs (file capabilities), hard links among the listed
    // names kept. A file gone or changing while read is tar's exit 1: the next commit takes it again.
    const tar = ['tar', '--create', '--file=-', '--directory=/', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--ignore-failed-read', '--blocking-factor=1', '--no-recursion', '--null', '--files-from=-']
    await runPipeline([docker.execArgv(container, tar)], {
      input: Readable.from([Buffer.from(delta.include.map((path) => path.slice(1)).join('\0'))]),
      output: out,
      acceptExit: (_argv, code) => code === 1,
    })
  }
  const dockerfile = [`FROM ${prior.image}`, ...(hasLayer ? ['ADD delta.tar /'] : []), ...instructions, ''].join('\n')
  await writeFile(join(work.path, 'Dockerfile'), dockerfile)
  return docker.buildLayer(tag, work.path)
}

/** Tar headers (no end marker: the bottle's archive follows) of an empty `.wh.NAME` for each path. */
async function whiteouts(paths: string[]): Promise<Buffer> {
  if (paths.length === 0) return Buffer.alloc(0)
  const tar = await import('tar-stream')
  const pack = tar.pack()
  const chunks: Buffer[] = []
  pack.on('data', (chunk: unknown) => chunks.push(chunk as Buffer))
  for (const path of paths) {
    const at = path.lastIndexOf('/')
    pack.entry({ name: `${path.slice(1, at + 1)}.wh.${path.slice(at + 1)}`, size: 0, mode: 0o644, mtime: new Date(0) }, '')
  }
  pack.finalize()
  await new Promise<void>((resolve, reject) => pack.on('end', resolve).on('error', reject))
  // finalize() writes the end marker (two zero blocks): the bottle's archive ends the whole.
  const all = Buffer.concat(chunks)
  return all.subarray(0, all.length - 1024)
}
