// The one wrapper around the docker CLI: nothing else spawns docker. One command per function,
// parsed results; pipelines get argv from here (saveArgv, loadArgv, …). Reads (inspect, list) ask
// the Engine API over the CLI's own socket when it is a local one (lib/engine-api.ts): the same JSON,
// without starting the CLI; so do a tag (one request either way) and the commands a commit runs in
// the bottle to flush and list its files (readInContainer). Everything else that changes something
// goes through the CLI.
import { canAskEngine, engineExec, engineGet, enginePost } from './engine-api.ts'
import { ToolError } from './errors.ts'
import { configChanges, type ImageConfig } from './image-config.ts'
import { COMPOSE_LABELS, LABELS } from './names.ts'
import type { Argv } from './pipeline.ts'
import { run, type CommandResult, type ShOptions } from './shell.ts'

/** Run `docker ARGS…`; a failure throws a ToolError naming the command. */
export function docker(args: string[], options: ShOptions = {}): Promise<CommandResult> {
  return run(['docker', ...args], options)
}

const ABSENT = /No such (object|container|image|network|volume)|not found/i

/**
 * The output of an inspection, or undefined when the object does not exist. Only "no such …"
 * means absent: any other failure (engine down, …) is rethrown.
 */
async function inspectOrAbsent(args: string[]): Promise<string | undefined> {
  const result = await docker(args, { nothrow: true })
  if (result.exitCode === 0) return result.stdout
  if (ABSENT.test(result.stderr)) return undefined
  throw new ToolError(`docker ${args.join(' ')}`, result.exitCode, result.stderr)
}

// --- containers --------------------------------------------------------------------------------

export interface ContainerSummary {
  name: string
  state: string
  /** The bot-bottle.state-root label; undefined for containers we did not start (bot-bottle's). */
  stateRoot?: string
  /** The compose project the container belongs to, if any. */
  composeProject?: string
}

/** The container's state (`running`, `exited`, …), or undefined when there is no such container. */
export async function containerState(name: string): Promise<string | undefined> {
  if (canAskEngine()) return ((await engineGet(`/containers/${encodeURIComponent(name)}/json`)) as { State?: { Status?: string } } | undefined)?.State?.Status
  return (await inspectOrAbsent(['container', 'inspect', '--format', '{{.State.Status}}', name]))?.trim()
}

/** The image a container was made from (its id) and when it was made, or undefined when there is no such container. */
export async function containerOrigin(name: string): Promise<{ image: string; created: Date } | undefined> {
  const raw = canAskEngine()
    ? ((await engineGet(`/containers/${encodeURIComponent(name)}/json`)) as { Image?: string; Created?: string } | undefined)
    : await inspectOrAbsent(['container', 'inspect', '--format', '{{json .}}', name]).then((text) => (text === undefined ? undefined : (JSON.parse(text) as { Image?: string; Created?: string })))
  return raw?.Image && raw.Created ? { image: raw.Image, created: new Date(raw.Created) } : undefined
}

export interface ContainerChange {
  path: string
  kind: 'changed' | 'added' | 'deleted'
}

/** What differs in a container's file system from its image (`docker diff`). */
export async function containerChanges(name: string): Promise<ContainerChange[]> {
  const kinds = ['changed', 'added', 'deleted'] as const
  if (canAskEngine()) {
    const rows = (await engineGet(`/containers/${encodeURIComponent(name)}/changes`)) as Array<{ Path: string; Kind: number }> | null | undefined
    if (rows === undefined) throw new ToolError(`docker diff ${name}`, 1, `Error: No such container: ${name}`)
    return (rows ?? []).map((row) => ({ path: row.Path, kind: kinds[row.Kind] ?? 'changed' }))
  }
  const { stdout } = await docker(['diff', name])
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => ({ path: line.slice(2), kind: line.startsWith('A') ? 'added' : line.startsWith('D') ? 'deleted' : 'changed' }))
}

/**
 * Whether any of `paths` in a running container changed after `since`, by its ctime (content,
 * metadata, and for a directory its entries; unlike the mtime, no program can set it back).
 * Undefined when the container cannot say: a path gone meanwhile or not readable by its root, or
 * no find that knows -newerct (busybox).
 */
export async function changedAfter(container: string, paths: string[], since: Date): Promise<boolean | undefined> {
  const stamp = `@${(since.getTime() / 1000).toFixed(3)}`
  // xargs gives find the paths as arguments, as many at a time as fit; find stops at the first newer one.
  const script = `xargs -0 sh -c 'exec find "$@" -maxdepth 0 -newerct "$0" -print -quit' "$1"`
  const result = await docker(['exec', '--interactive', '--user', 'root', container, 'sh', '-c', script, 'sh', stamp], { input: paths.join('\0'), nothrow: true })
  if (result.stdout.trim()) return true
  return result.exitCode === 0 ? false : undefined
}

/** Containers whose name starts with `prefix`, running or not: one listing for all of them. */
export async function listContainers(prefix: string): Promise<ContainerSummary[]> {
  if (canAskEngine()) {
    const listed = (await engineGet(`/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ name: [`^/?${prefix}`] }))}`)) as ApiContainer[]
    return listed
      .map((row) => ({ name: (row.Names?.[0] ?? '').replace(/^\//, ''), state: row.State ?? '', labels: row.Labels ?? {} }))
      .filter((row) => row.name.startsWith(prefix))
      .map(({ name, state, labels }) => ({ name, state, stateRoot: labels[LABELS.stateRoot] || undefined, composeProject: labels[COMPOSE_LABELS.project] || undefined }))
  }
  const format = `{{.Names}}\t{{.State}}\t{{.Label "${LABELS.stateRoot}"}}\t{{.Label "${COMPOSE_LABELS.project}"}}`
  const output = await docker(['ps', '-a', '--no-trunc', '--filter', `name=^${prefix}`, '--format', format])
  return output.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t'))
    .map(([name = '', state = '', stateRoot = '', composeProject = '']) => ({ name, state, stateRoot: stateRoot || undefined, composeProject: composeProject || undefined }))
    .filter((row) => row.name.startsWith(prefix))
}

/** What the list endpoints give for a container. */
interface ApiContainer {
  Names?: string[]
  State?: string
  Image?: string
  Labels?: Record<string, string> | null
}

/** `docker container inspect` of one container, as the engine gives it (validated by the caller). */
export async function inspectContainer(name: string): Promise<unknown> {
  const { found } = await inspectMany('container', [name])
  if (found.length === 0) throw new ToolError(`docker container inspect ${name}`, 1, `Error: No such container: ${name}`)
  return found[0]
}

/** `docker commit` of a running container; the container keeps running (no pause: agents keep working). */
export async function commitContainer(container: string, tag: string, changes: string[]): Promise<string> {
  const output = await docker(['commit', '--pause=false', ...changes.flatMap((change) => ['--change', change]), container, tag])
  return output.stdout.trim()
}

/** `docker create` with flags built by the caller; returns the container id. Nothing runs yet. */
export async function createContainer(flags: string[], image: string, command: string[] = []): Promise<string> {
  return (await docker(['create', ...flags, image, ...command])).stdout.trim()
}

/** Unpack a (small) tar into a container, started or not: `docker cp - C:PATH`. */
export async function copyInto(container: string, path: string, archive: Buffer): Promise<void> {
  await docker(['cp', '-', `${container}:${path}`], { input: archive })
}

export async function startContainer(name: string): Promise<void> {
  await docker(['start', name])
}

export async function execAsRoot(container: string, command: string[]): Promise<string> {
  return (await docker(['exec', '--user', 'root', container, ...command])).stdout
}

/**
 * Run `work` with a container of `image` that is created, never started (nothing of the image
 * runs: `--entrypoint true` only lets an image without a command be created), removed after.
 */
export async function withCreatedContainer<T>(image: string, work: (container: string) => Promise<T>): Promise<T> {
  const container = (await docker(['create', '--network', 'none', '--entrypoint', 'true', image])).stdout.trim()
  try {
    return await work(container)
  } finally {
    await removeContainerQuietly(container)
  }
}

/** `docker export`: the file system of a container as one tar, for a pipeline. */
export const exportArgv = (container: string): Argv => ['docker', 'export', container]

/**
 * The output of a command run as root in a running container that reads or flushes (sync, a
 * listing): asked of the Engine API directly where reads are (no CLI start-up), else `docker exec`.
 * A failure throws, as `docker exec`'s would.
 */
export async function readInContainer(container: string, command: string[]): Promise<string> {
  if (!canAskEngine()) return execAsRoot(container, command)
  const result = await engineExec(container, command, 'root')
  if (result.exitCode !== 0) throw new ToolError(`docker exec --user root ${container} ${command.join(' ')}`, result.exitCode, result.stderr)
  return result.stdout
}

/** `docker exec` as root with stdin open, for a pipeline (its stdout streams). */
export const execArgv = (container: string, command: string[]): Argv => ['docker', 'exec', '--interactive', '--user', 'root', container, ...command]

export async function removeContainer(name: string, options: { volumes?: boolean } = {}): Promise<void> {
  await docker(['rm', '--force', ...(options.volumes ? ['--volumes'] : []), name])
}

/** Remove a container if it is there (a cleanup that must not fail). */
export async function removeContainerQuietly(name: string, options: { volumes?: boolean } = {}): Promise<void> {
  await docker(['rm', '--force', ...(options.volumes ? ['--volumes'] : []), name], { nothrow: true })
}

/** The argv that opens an interactive shell in a container. */
export const shellArgv = (container: string, shell: string[]): Argv => ['docker', 'exec', '-it', container, ...shell]

// --- images ------------------------------------------------------------------------------------

export interface ImageSummary {
  id: string
  sizeBytes: number
  /**
   * About what `docker save` writes of it: the content-store bytes where the engine reports them
   * (the containerd image store keeps layers compressed, and saves them so), else its size.
   */
  savedBytes: number
  /** Its names (`repo:tag`); none for an image only known by its id. */
  tags: string[]
  /** Diff ids, bottom first. */
  layers: string[]
  labels: Record<string, string>
  config: ImageConfig
}

/** Only "no such image" means absent; any other failure (engine down, …) is rethrown. */
export async function imageExists(reference: string): Promise<boolean> {
  return (await inspectImageIfPresent(reference)) !== undefined
}

/** An image, or undefined when the engine does not have it (yet: `docker run` may pull it). */
export async function inspectImageIfPresent(reference: string): Promise<ImageSummary | undefined> {
  const { found } = await inspectMany('image', [reference])
  return found.length === 0 ? undefined : imageSummary(found[0])
}

export async function inspectImage(reference: string): Promise<ImageSummary> {
  const image = await inspectImageIfPresent(reference)
  if (!image) throw new ToolError(`docker image inspect ${reference}`, 1, `Error: No such image: ${reference}`)
  return image
}

/** Those of `references` the engine has (one request each, side by side). */
export async function inspectImages(references: string[]): Promise<ImageSummary[]> {
  return (await inspectMany('image', references)).found.map(imageSummary)
}

function imageSummary(raw: unknown): ImageSummary {
  const image = raw as { Id: string; Size: number; RepoTags?: string[] | null; RootFS?: { Layers?: string[] }; Config?: ImageConfig | null; Manifests?: Array<{ Available?: boolean; Size?: { Content?: number } }> | null }
  // Manifests: the containerd image store, asked with ?manifests=1 (API 1.48+); absent elsewhere.
  const content = (image.Manifests ?? []).filter((manifest) => manifest.Available !== false).reduce((sum, manifest) => sum + (manifest.Size?.Content ?? 0), 0)
  return {
    id: image.Id,
    sizeBytes: image.Size,
    savedBytes: content > 0 ? content : image.Size,
    tags: image.RepoTags ?? [],
    layers: image.RootFS?.Layers ?? [],
    labels: image.Config?.Labels ?? {},
    config: image.Config ?? {},
  }
}

/**
 * Re-tag `reference` as a child image with no other change: engines before 25 keep the committing
 * container's whole config (env values included) in a legacy field of a committed image; the child
 * carries only its own, built from the parent's cleaned config.
 */
export async function rebuildWithoutContainerConfig(reference: string, tag: string): Promise<void> {
  const { id } = await inspectImage(reference)
  await docker(['build', '--quiet', '--tag', tag, '-'], { input: `FROM ${id}\nLABEL bot-bottle.scrubbed=true\n` })
}

/**
 * Build `context` (its Dockerfile: FROM an image we made, ADD a layer archive, LABEL, ENV) with the
 * engine's own (classic) builder, the one whose ADD the tests hold to: it unpacks the archive with
 * its owners, modes, xattrs and hard links, and a `.wh.` entry in it becomes a whiteout in the
 * layer it commits, as OCI layers mean.
 */
export async function buildLayer(tag: string, context: string): Promise<string> {
  return (await docker(['build', '--quiet', '--tag', tag, context], { env: { DOCKER_BUILDKIT: '0' } })).stdout.trim()
}

export async function buildImage(tag: string, dockerfile: string, context: string): Promise<void> {
  await docker(['build', '--quiet', '--tag', tag, '--file', dockerfile, context])
}

/** `docker tag`: one POST /images/{source}/tag, asked directly where reads are (see engine-api.ts). */
export async function tagImage(source: string, target: string): Promise<void> {
  if (!canAskEngine()) {
    await docker(['tag', source, target])
    return
  }
  const { repo, tag } = splitReference(target)
  await enginePost(`/images/${encodeURIComponent(source)}/tag?repo=${encodeURIComponent(repo)}&tag=${encodeURIComponent(tag)}`)
}

/** `repo[:tag]` (a registry host may have a port: the tag is after the last `/`). */
function splitReference(reference: string): { repo: string; tag: string } {
  const at = reference.lastIndexOf(':')
  return at > reference.lastIndexOf('/') ? { repo: reference.slice(0, at), tag: reference.slice(at + 1) } : { repo: reference, tag: 'latest' }
}

/**
 * Remove tags for good: an image goes with its last tag unless a container still uses it. The CLI
 * removes its arguments one after another, so a long list goes as four calls at once.
 */
export async function removeTags(references: string[]): Promise<void> {
  const size = Math.min(100, Math.max(8, Math.ceil(references.length / 4)))
  const batches = Array.from({ length: Math.ceil(references.length / size) }, (_, i) => references.slice(i * size, (i + 1) * size))
  await Promise.all(batches.map((batch) => docker(['image', 'rm', '--force', ...batch])))
}

/** Remove one tag if it is there; the image stays while other tags or containers use it. */
export async function untagImage(reference: string): Promise<void> {
  await docker(['image', 'rm', reference], { nothrow: true })
}

/** Push `source` as `target` (tag → push → untag); returns the pushed digest. */
export async function pushAs(source: string, target: string): Promise<string> {
  await tagImage(source, target)
  try {
    const output = await docker(['push', target])
    return /digest: (sha256:[0-9a-f]{64})/.exec(output.stdout)?.[1] ?? ''
  } finally {
    await untagImage(target)
  }
}

/** An image of one layer made from a tar archive (`docker import -`); it has no config but the archive's files. */
export async function importImage(archive: Buffer, reference: string): Promise<void> {
  await docker(['import', '-', reference], { input: archive })
}

export async function pullImage(reference: string): Promise<void> {
  await docker(['pull', '--quiet', reference])
}

export const saveArgv = (reference: string): Argv => ['docker', 'save', reference]
export const loadArgv = (): Argv => ['docker', 'load']

/** `docker load` says what it loaded in one of two forms, depending on whether the archive had tags. */
export function parseLoaded(output: string): string | undefined {
  return /Loaded image ID: (sha256:[0-9a-f]{64})/.exec(output)?.[1] ?? /Loaded image: (\S+)/.exec(output)?.[1]
}

/** A one-layer copy of `reference` with the same config, under the same tag. */
export async function flattenImage(reference: string, runPipe: (commands: Argv[]) => Promise<string>): Promise<void> {
  const changes = configChanges((await inspectImage(reference)).config).flatMap((change) => ['--change', change])
  await withCreatedContainer(reference, (source) => runPipe([exportArgv(source), ['docker', 'import', ...changes, '-', reference]]))
}

// --- networks ----------------------------------------------------------------------------------

export async function createNetwork(flags: string[], name: string): Promise<void> {
  await docker(['network', 'create', ...flags, name])
}

export async function removeNetworkQuietly(name: string): Promise<void> {
  await docker(['network', 'rm', name], { nothrow: true })
}

/** A container (running or not) or network carrying a label, with the values of the labels asked for. */
export interface Labelled {
  name: string
  image: string
  labels: Record<string, string>
}

/** Containers (running or not) or networks carrying `label` (`key` or `key=value`): one listing for all of them. */
export async function listLabelled(kind: 'container' | 'network', label: string, keys: string[] = []): Promise<Labelled[]> {
  if (canAskEngine()) {
    const filters = encodeURIComponent(JSON.stringify({ label: [label] }))
    const rows = (await engineGet(kind === 'container' ? `/containers/json?all=1&filters=${filters}` : `/networks?filters=${filters}`)) as Array<ApiContainer & { Name?: string }>
    return rows.map((row) => ({ name: row.Name ?? (row.Names?.[0] ?? '').replace(/^\//, ''), image: row.Image ?? '', labels: pick(row.Labels ?? {}, keys) }))
  }
  const format = [kind === 'container' ? '{{.Names}}\t{{.Image}}' : '{{.Name}}\t', ...keys.map((key) => `{{.Label "${key}"}}`)].join('\t')
  const list = kind === 'container' ? ['ps', '-a'] : ['network', 'ls']
  const output = await docker([...list, '--filter', `label=${label}`, '--format', format])
  return output.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t'))
    .map(([name = '', image = '', ...values]) => ({ name, image, labels: Object.fromEntries(keys.map((key, i) => [key, values[i] ?? ''])) }))
}

const pick = (labels: Record<string, string>, keys: string[]) => Object.fromEntries(keys.map((key) => [key, labels[key] ?? '']))

// --- a temporary registry's container ----------------------------------------------------------

/** Run an image detached; returns the container id. */
export async function runDetached(flags: string[], image: string): Promise<string> {
  return (await docker(['run', '--detach', ...flags, image])).stdout.trim()
}

/** The host address a container's port is published on. */
export async function publishedAddress(container: string, port: string): Promise<string> {
  const published = (await docker(['port', container, port])).stdout.trim().split('\n')[0] ?? ''
  return published.replace('0.0.0.0', '127.0.0.1')
}

// --- batch inspections -------------------------------------------------------------------------

/**
 * Inspect several networks, volumes, containers or images at once: the ones found (the engine's
 * JSON, as `docker inspect` prints it) and the names that do not exist. Any failure other than
 * "no such …" is rethrown.
 */
export async function inspectMany(kind: 'network' | 'volume' | 'container' | 'image', names: string[]): Promise<{ found: unknown[]; missing: string[] }> {
  if (names.length === 0) return { found: [], missing: [] }
  if (canAskEngine()) {
    const path = (name: string) => ({ network: `/networks/${name}`, volume: `/volumes/${name}`, container: `/containers/${name}/json`, image: `/images/${name}/json?manifests=1` })[kind]
    const answers = await Promise.all(names.map((name) => engineGet(path(encodeURIComponent(name)))))
    return { found: answers.filter((answer) => answer !== undefined), missing: names.filter((_, i) => answers[i] === undefined) }
  }
  const args = [kind, 'inspect', ...names]
  const result = await docker(args, { nothrow: true })
  const errors = result.stderr.split('\n').filter((line) => line.trim())
  if (result.exitCode !== 0 && (errors.length === 0 || !errors.every((line) => ABSENT.test(line)))) throw new ToolError(`docker ${args.join(' ')}`, result.exitCode, result.stderr)
  const found = (JSON.parse(result.stdout.trim() || '[]') as unknown[]) ?? []
  const named = (name: string) => new RegExp(`(^|[\\s:])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[\\s:])`)
  const missing = names.filter((name) => errors.some((line) => named(name).test(line)))
  return { found, missing }
}

// --- volumes -----------------------------------------------------------------------------------

export async function createVolume(name: string, labels: Record<string, string> = {}): Promise<void> {
  await docker(['volume', 'create', ...Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`]), name])
}

export async function removeVolumeQuietly(name: string): Promise<void> {
  await docker(['volume', 'rm', name], { nothrow: true })
}

/** Sizes of all volumes in bytes (one `docker system df -v` for all of them; -1 when unknown). */
export async function volumeSizes(): Promise<Map<string, number>> {
  if (canAskEngine()) {
    const df = (await engineGet('/system/df?type=volume')) as { Volumes?: Array<{ Name: string; UsageData?: { Size?: number } }> | null }
    return new Map((df.Volumes ?? []).map((volume) => [volume.Name, volume.UsageData?.Size ?? -1]))
  }
  const output = await docker(['system', 'df', '-v', '--format', '{{json .Volumes}}'])
  const volumes = (JSON.parse(output.stdout.trim() || '[]') ?? []) as Array<{ Name: string; Size?: string }>
  return new Map(volumes.map((volume) => [volume.Name, parseSize(volume.Size ?? '')]))
}

function parseSize(text: string): number {
  const match = /^([\d.]+)\s*([kMGT]?B)$/.exec(text.trim())
  if (!match) return -1
  const unit = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 }[match[2] as 'B' | 'kB' | 'MB' | 'GB' | 'TB']
  return Math.round(Number(match[1]) * unit)
}

/** The argv that streams a path out of a (created, never started) container as a tar: `docker cp C:PATH -`. */
export const copyOutArgv = (container: string, path: string): Argv => ['docker', 'cp', `${container}:${path}`, '-']
/** The argv that unpacks a tar from stdin into a path of a container: `docker cp - C:PATH`. */
export const copyInArgv = (container: string, path: string): Argv => ['docker', 'cp', '-', `${container}:${path}`]

// --- compose -----------------------------------------------------------------------------------

/** `docker compose ARGS…` (the Compose v2 CLI plugin). */
export function compose(args: string[], options: ShOptions = {}): Promise<CommandResult> {
  return docker(['compose', ...args], options)
}

export interface EngineInfo {
  serverVersion: string
  runtimes: string[]
  /** Images kept by containerd's snapshotter (engines 29+ by default), not a graph driver. */
  containerdStore: boolean
  /** `name=seccomp,profile=default`, `name=apparmor`, `name=userns`, `name=rootless`, `name=selinux`, … */
  securityOptions: string[]
  cgroupVersion: string
  operatingSystem: string
  kernelVersion: string
  /** The engine's host name (a VM's, for Colima and the like). */
  name: string
}

let info: Promise<EngineInfo> | undefined

/** The engine's `docker info`, asked once per process. */
export function engineInfo(): Promise<EngineInfo> {
  return (info ??= (async () => {
    const raw = (canAskEngine() ? await engineGet('/info') : JSON.parse((await docker(['info', '--format', '{{json .}}'])).stdout)) as {
      ServerVersion: string
      Runtimes?: Record<string, unknown>
      DriverStatus?: string[][] | null
      SecurityOptions?: string[] | null
      CgroupVersion?: string
      OperatingSystem?: string
      KernelVersion?: string
      Name?: string
    }
    return {
      serverVersion: raw.ServerVersion,
      runtimes: Object.keys(raw.Runtimes ?? {}),
      containerdStore: (raw.DriverStatus ?? []).some(([key, value]) => key === 'driver-type' && value?.startsWith('io.containerd.snapshotter')),
      securityOptions: raw.SecurityOptions ?? [],
      cgroupVersion: raw.CgroupVersion ?? '',
      operatingSystem: raw.OperatingSystem ?? '',
      kernelVersion: raw.KernelVersion ?? '',
      name: raw.Name ?? '',
    }
  })())
}

export async function connectNetwork(network: string, container: string, flags: string[]): Promise<void> {
  await docker(['network', 'connect', ...flags, network, container])
}
