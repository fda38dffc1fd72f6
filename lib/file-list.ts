// A bottle's files as `find` lists them (type, mode, owner, size, ctime, path), kept with each
// snapshot: a compact commit adds only what differs from the list of the snapshot it builds on,
// and `diff` compares two lists without reading a file.
//
// What "differs" means: a path not in the earlier list, of another type, or with a ctime after
// the earlier capture began. The ctime moves with every change to a file (content, mode, owner,
// xattrs, link count, a rename onto the path) and no program can set it back, unlike the mtime.
// A path kept unchanged keeps the earlier list's `version`, so versions compare along a bottle's
// whole history, across a resume (a new container, new ctimes) as well.
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { stateDir, statePath, writeAtomic } from './state.ts'

/** `find / -xdev -printf FIND_FORMAT`: type, mode, uid, gid, size, ctime, device, path; NUL-ended. */
export const FIND_FORMAT = '%y\\t%m\\t%U\\t%G\\t%s\\t%C@\\t%D\\t%p\\0'

export interface FileEntry {
  /**
   * find's %y (f, d, l, c, b, p), or `m`: a mount point (a volume, a bind, /proc, /etc/hosts). A
   * mount point is not the bottle's own file system: never copied into a snapshot, and neither it
   * nor what the image has under it is ever deleted from one (as docker commit leaves them).
   */
  type: string
  mode: number
  uid: number
  gid: number
  size: number
  /** The ctime when it last changed (seconds, as find prints it), or the earlier list's. */
  version: string
}

export type FileList = Map<string, FileEntry>

/** What a bottle's files were at a snapshot, and where the list came from. */
export interface FileRecord {
  files: FileList
  /** The container listed, and its clock when the listing began (ctimes are compared with it). */
  container: string
  clock: string
  /**
   * Whether every path the snapshot holds is in the list. A list taken before a `docker commit`
   * is not: a file made between the two is in the snapshot only (compact commits list exactly
   * what they add; see docker-compact.ts's exactPrior).
   */
  exact: boolean
  /** What a `docker commit` would have written then (bytes of files changed since the container was made): the next commit decides by it. */
  rewrite?: number | undefined
}

/**
 * The list `find` printed, with mount points (volumes, binds, /proc, /dev: another device than /;
 * find -xdev does not go below them) as `m` and without sockets; undefined when a record is not
 * find's (a busybox find without -printf) or a name is not UTF-8 (it could not be handed back to tar).
 */
export function parseFind(output: string): FileList | undefined {
  const files: FileList = new Map()
  let rootDevice: string | undefined
  // By hand rather than split(): a bottle has thousands of paths, and a commit's own cost is tens of milliseconds.
  for (let at = 0; at < output.length; ) {
    const end = output.indexOf('\0', at)
    if (end < 0) return undefined
    const tabs: number[] = []
    for (let tab = output.indexOf('\t', at); tab >= 0 && tab < end && tabs.length < 7; tab = output.indexOf('\t', tab + 1)) tabs.push(tab)
    if (tabs.length < 7) return undefined
    const field = (i: number) => output.slice(i === 0 ? at : tabs[i - 1]! + 1, tabs[i])
    const type = field(0)
    const ctime = field(5)
    const device = field(6)
    const path = output.slice(tabs[6]! + 1, end)
    at = end + 1
    if (type.length !== 1 || !'fdlcbpsm'.includes(type) || path[0] !== '/' || !CTIME.test(ctime) || path.includes('\uFFFD')) return undefined
    if (path === '/') {
      rootDevice = device
      continue
    }
    if (type === 's') continue
    files.set(path, { type: device === rootDevice ? type : 'm', mode: parseInt(field(1), 8), uid: Number(field(2)), gid: Number(field(3)), size: Number(field(4)), version: ctime })
  }
  return rootDevice === undefined ? undefined : files
}

const CTIME = /^\d+(\.\d+)?$/

export interface Delta {
  /** Paths to copy from the bottle (new, of another type, or changed since), parents first; never a mount point. */
  include: string[]
  /** Paths to delete (whiteouts): none under another deleted path, nor under what replaced a directory or a mount point. */
  remove: string[]
  /** The regular files' bytes among `include`. */
  includeBytes: number
  /** The list of the snapshot this makes: `now` without the excluded, unchanged paths keeping `prior`'s version. */
  files: FileList
}

/**
 * What a snapshot built on the one `prior` lists must add and delete to hold `now`: `since` is when
 * the capture `prior` came from began (or the bottle's container was made, when it runs from that
 * snapshot), on the bottle's clock, less a margin.
 */
export function planDelta(prior: FileList, now: FileList, since: number, excluded: (path: string) => boolean = () => false): Delta {
  const include: string[] = []
  const files: FileList = new Map()
  let includeBytes = 0
  for (const [path, entry] of now) {
    if (excluded(path)) continue
    const before = prior.get(path)
    if (!before || before.type !== entry.type || Number(entry.version) > since) {
      if (entry.type !== 'm') include.push(path)
      files.set(path, entry)
      if (entry.type === 'f') includeBytes += entry.size
    } else {
      files.set(path, { ...entry, version: before.version })
    }
  }
  // A mount point in the prior list (the bottle's own mounts move between runs) is nothing to delete either.
  const gone = new Set([...prior.keys()].filter((path) => !files.has(path) && prior.get(path)!.type !== 'm'))
  const remove = [...gone].filter((path) => !ancestorsOf(path).some((parent) => gone.has(parent) || (files.has(parent) && files.get(parent)!.type !== 'd')))
  return { include, remove, includeBytes, files }
}

function ancestorsOf(path: string): string[] {
  const parents: string[] = []
  for (let at = path.lastIndexOf('/'); at > 0; at = path.lastIndexOf('/', at - 1)) parents.push(path.slice(0, at))
  return parents
}

export interface FileChange {
  path: string
  type: string
  size: number
}

export interface ListDiff {
  added: FileChange[]
  changed: FileChange[]
  deleted: FileChange[]
}

/**
 * What differs from `before` to `after`, optionally only under `prefix`. A directory counts as
 * changed only for its own mode or owner: entries coming and going show as themselves.
 */
export function diffLists(before: FileList, after: FileList, prefix?: string): ListDiff {
  const under = prefix ? (path: string) => path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`) : () => true
  const result: ListDiff = { added: [], changed: [], deleted: [] }
  const change = (path: string, entry: FileEntry): FileChange => ({ path, type: entry.type, size: entry.type === 'f' ? entry.size : 0 })
  for (const [path, entry] of after) {
    if (!under(path) || entry.type === 'm') continue
    const old = before.get(path)
    if (!old) result.added.push(change(path, entry))
    else if (old.type !== entry.type || old.mode !== entry.mode || old.uid !== entry.uid || old.gid !== entry.gid || (entry.type !== 'd' && (old.size !== entry.size || old.version !== entry.version))) result.changed.push(change(path, entry))
  }
  // Under a mount point the snapshot keeps what it had: the bottle just does not see it.
  const mountedOver = (path: string) => ancestorsOf(path).some((parent) => after.get(parent)?.type === 'm')
  for (const [path, entry] of before) if (under(path) && entry.type !== 'm' && !after.has(path) && !mountedOver(path)) result.deleted.push(change(path, entry))
  for (const list of Object.values(result)) list.sort((a: FileChange, b: FileChange) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  return result
}

/**
 * What a commit keeps out: the state dir's `exclude` (a path or glob a line, # comments), with
 * `added` (commit --exclude) added to it for good: kept out of every snapshot from then on.
 */
export async function excludedPaths(slug: string, added: string[] = []): Promise<string[]> {
  const file = statePath(slug, 'exclude')
  const listed = await readFile(file, 'utf8').catch(() => '')
  const lines = listed.split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'))
  const fresh = [...new Set(added)].filter((pattern) => !lines.includes(pattern))
  if (fresh.length > 0) await writeAtomic(file, `${listed}${listed && !listed.endsWith('\n') ? '\n' : ''}${fresh.join('\n')}\n`)
  return [...lines, ...fresh]
}

/**
 * Whether a path is excluded by one of `patterns` (commit --exclude, the state dir's `exclude`):
 * a pattern matches a path and everything under it; `*` is any run of characters but `/`, `**`
 * any run at all, `?` one character; a pattern that does not start with `/` matches at any depth.
 */
export function excluder(patterns: string[]): (path: string) => boolean {
  if (patterns.length === 0) return () => false
  const sources = patterns.map((pattern) => {
    const anchored = pattern.startsWith('/') ? pattern : `**/${pattern}`
    const body = anchored
      .replace(/\/+$/, '')
      .split(/(\*\*\/|\*\*|\*|\?)/)
      .map((part) => (part === '**/' ? '(?:.*/)?' : part === '**' ? '.*' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('')
    return body.startsWith('(?:.*/)?') ? `/${body}` : body
  })
  const matcher = new RegExp(`^(?:${sources.join('|')})(?:/.*)?$`)
  return (path) => matcher.test(path)
}

// --- kept with the history -----------------------------------------------------------------

const filesDir = (slug: string) => join(stateDir(slug), 'files')
const fileOf = (slug: string, n: number) => join(filesDir(slug), `${n}.json.gz`)

/** A list as find's own format (the device left empty): compact, and read back by parseFind. */
function serialize(files: FileList): string {
  const lines = ['d\t755\t0\t0\t0\t0\t\t/\0']
  for (const [path, entry] of files) lines.push(`${entry.type}\t${entry.mode.toString(8)}\t${entry.uid}\t${entry.gid}\t${entry.size}\t${entry.version}\t\t${path}\0`)
  return lines.join('')
}

export async function writeFileRecord(slug: string, n: number, record: FileRecord): Promise<void> {
  const header = `${JSON.stringify({ v: 2, container: record.container, clock: record.clock, exact: record.exact, rewrite: record.rewrite })}\n`
  const body = gzipSync(header + serialize(record.files), { level: 1 })
  await mkdir(filesDir(slug), { recursive: true })
  const temp = `${fileOf(slug, n)}.tmp-${process.pid}`
  await writeFile(temp, body)
  await rename(temp, fileOf(slug, n))
}

/** Snapshot N's file list; undefined when it has none (committed before lists were kept, imported, not docker) or it is unreadable. */
export async function readFileRecord(slug: string, n: number): Promise<FileRecord | undefined> {
  try {
    const text = gunzipSync(await readFile(fileOf(slug, n))).toString()
    const newline = text.indexOf('\n')
    const header = JSON.parse(text.slice(0, newline)) as { v?: number; container?: string; clock?: string; exact?: boolean; rewrite?: number }
    const files = parseFind(text.slice(newline + 1))
    if (header.v !== 2 || typeof header.container !== 'string' || typeof header.clock !== 'string' || !files) return undefined
    return { files, container: header.container, clock: header.clock, exact: header.exact === true, ...(typeof header.rewrite === 'number' ? { rewrite: header.rewrite } : {}) }
  } catch {
    return undefined
  }
}

/** Drop the lists of snapshots the history no longer has. */
export async function keepFileRecords(slug: string, numbers: number[]): Promise<void> {
  const kept = new Set(numbers.map((n) => `${n}.json.gz`))
  const names = await readdir(filesDir(slug)).catch(() => [] as string[])
  await Promise.all(names.filter((name) => !kept.has(name)).map((name) => rm(join(filesDir(slug), name), { force: true })))
}
