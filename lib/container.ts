// Thin wrappers around Apple's `container` CLI (1.2, macOS): one command each, parsed results.
// Every call of `container` in bottle-tasks goes through this file.
import * as z from 'zod/mini'
import './schema.ts'
import type { ImageConfig } from './image-config.ts'
import { OperationError, ToolError } from './errors.ts'
import { sh } from './shell.ts'

// `container run --label` splits on "=" and refuses a value holding another one (apple/container
// Parser.labels): such values (metadata JSON, paths) travel base64url-encoded behind this prefix.
const ENCODED = 'b64u:'

export function encodeLabelValue(value: string): string {
  return value.includes('=') || value.startsWith(ENCODED) ? `${ENCODED}${Buffer.from(value, 'utf8').toString('base64url')}` : value
}

export function decodeLabelValue(value: string): string {
  return value.startsWith(ENCODED) ? Buffer.from(value.slice(ENCODED.length), 'base64url').toString('utf8') : value
}

export const labelFlags = (labels: Record<string, string>) => Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${encodeLabelValue(value)}`])

const decodeLabels = (labels: Record<string, string>) => Object.fromEntries(Object.entries(labels).map(([key, value]) => [key, decodeLabelValue(value)]))

export interface AppleContainer {
  id: string
  state: string
  image: string
  labels: Record<string, string>
}

// `container list --format json`: 1.x nests the state under status; 0.12 and earlier had a bare
// status string and the id under configuration.
const listEntry = z.looseObject({
  id: z.optional(z.string()),
  status: z.union([z.string(), z.looseObject({ state: z.string() })]),
  configuration: z.looseObject({
    id: z.optional(z.string()),
    image: z.optional(z.looseObject({ reference: z.string() })),
    labels: z.optional(z.record(z.string(), z.string())),
  }),
})

export function parseList(json: string): AppleContainer[] {
  return z
    .array(listEntry)
    .parse(JSON.parse(json || '[]'))
    .map((entry) => ({
      id: entry.id ?? entry.configuration.id ?? '',
      state: typeof entry.status === 'string' ? entry.status : entry.status.state,
      image: entry.configuration.image?.reference ?? '',
      labels: decodeLabels(entry.configuration.labels ?? {}),
    }))
}

export async function listContainers(): Promise<AppleContainer[]> {
  return parseList((await sh`container list --all --format json`).stdout)
}

/** How a container runs: what `container run` takes, as flags the real parser accepts. */
export interface RunSpec {
  name: string
  image: string
  labels: Record<string, string>
  /** Variable names: `--env NAME` gives the process this process's value (Parser.env). */
  envFromHost?: string[]
  user?: string
  workdir?: string
  cpus?: number
  memoryBytes?: number
  /** Network names; ['none'] for none, [] for the default network. */
  networks?: string[]
  binds?: Array<{ source: string; target: string; readOnly: boolean }>
  volumes?: Array<{ name: string; target: string; readOnly: boolean }>
  tmpfs?: Array<{ target: string; options: string[] }>
  readOnly?: boolean
  /** `--dns…` flags; null: `--no-dns`. */
  dns?: DnsConfiguration | null
}

/** ContainerConfiguration.DNSConfiguration: what `--dns`, `--dns-domain`, `--dns-search`, `--dns-option` set. */
export interface DnsConfiguration {
  nameservers: string[]
  domain?: string
  searchDomains: string[]
  options: string[]
}

function dnsFlags(dns: DnsConfiguration | null | undefined): string[] {
  if (dns === undefined) return []
  if (dns === null) return ['--no-dns']
  return [
    ...dns.nameservers.flatMap((server) => ['--dns', server]),
    ...(dns.domain === undefined ? [] : ['--dns-domain', dns.domain]),
    ...dns.searchDomains.flatMap((domain) => ['--dns-search', domain]),
    ...dns.options.flatMap((option) => ['--dns-option', option]),
  ]
}

// A detached container gets no stdin: one whose command is a shell exits at once. Bottles run
// this instead of the image's CMD (which the image, and so a snapshot, keeps).
const KEEP_ALIVE = { entrypoint: 'sleep', args: ['infinity'] }

/** `-v SRC:DST[:ro]`, or `--mount` where a path holds ":" (which -v would split on). */
function bindFlags(source: string, target: string, readOnly: boolean): string[] {
  if (!`${source}${target}`.includes(':')) return ['--volume', `${source}:${target}${readOnly ? ':ro' : ''}`]
  if (/[,=]/.test(`${source}${target}`)) throw new OperationError(`cannot mount ${source} at ${target}: container's -v and --mount cannot both parse these paths`)
  return ['--mount', `type=bind,source=${source},target=${target}${readOnly ? ',readonly' : ''}`]
}

export function runArgs(spec: RunSpec): string[] {
  return [
    '--name', spec.name, '--detach',
    ...labelFlags(spec.labels),
    ...(spec.envFromHost ?? []).flatMap((name) => ['--env', name]),
    ...(spec.user === undefined ? [] : ['--user', spec.user]),
    ...(spec.workdir === undefined ? [] : ['--workdir', spec.workdir]),
    ...(spec.cpus === undefined ? [] : ['--cpus', String(spec.cpus)]),
    ...(spec.memoryBytes === undefined ? [] : ['--memory', `${Math.ceil(spec.memoryBytes / 1024 ** 2)}M`]),
    ...(spec.networks ?? []).flatMap((network) => ['--network', network]),
    ...(spec.binds ?? []).flatMap((bind) => bindFlags(bind.source, bind.target, bind.readOnly)),
    ...(spec.volumes ?? []).flatMap((volume) => ['--volume', `${volume.name}:${volume.target}${volume.readOnly ? ':ro' : ''}`]),
    ...(spec.tmpfs ?? []).flatMap((tmpfs) => ['--mount', ['type=tmpfs', `target=${tmpfs.target}`, ...tmpfs.options.map((option) => (option === 'ro' ? 'readonly' : option))].join(',')]),
    ...(spec.readOnly ? ['--read-only'] : []),
    ...dnsFlags(spec.dns),
    '--entrypoint', KEEP_ALIVE.entrypoint,
    spec.image,
    ...KEEP_ALIVE.args,
  ]
}

/** Never --rm: a stopped container must stay around to be started again. */
export async function runDetached(spec: RunSpec): Promise<void> {
  await sh`container run ${runArgs(spec)}`
}

const fsType = z.record(z.string(), z.looseObject({ name: z.optional(z.string()) }))
const inspectEntry = z.looseObject({
  configuration: z.looseObject({
    image: z.looseObject({ reference: z.string() }),
    initProcess: z.looseObject({
      environment: z.optional(z.array(z.string())),
      workingDirectory: z.optional(z.string()),
      user: z.optional(z.looseObject({ raw: z.optional(z.looseObject({ userString: z.string() })), id: z.optional(z.looseObject({ uid: z.number(), gid: z.number() })) })),
    }),
    mounts: z.optional(z.array(z.looseObject({ type: fsType, source: z.string(), destination: z.string(), options: z.optional(z.array(z.string())) }))),
    networks: z.optional(z.array(z.looseObject({ network: z.string() }))),
    resources: z.optional(z.looseObject({ cpus: z.optional(z.number()), memoryInBytes: z.optional(z.number()) })),
    readOnly: z.optional(z.boolean()),
    /** Absent: `--no-dns` (1.x always stores one otherwise). */
    dns: z.optional(z.looseObject({ nameservers: z.array(z.string()), domain: z.optional(z.string()), searchDomains: z.optional(z.array(z.string())), options: z.optional(z.array(z.string())) })),
  }),
})

/** What `container inspect` says of a running container (ContainerConfiguration, 1.x). */
export interface ContainerDetails {
  image: string
  env: string[]
  user?: string
  workdir?: string
  cpus?: number
  memoryBytes?: number
  networks: string[]
  readOnly: boolean
  dns: DnsConfiguration | null
  /** `type`: the Filesystem type as inspect names it (kind `other`: one `container run` cannot make, e.g. block). */
  mounts: Array<{ kind: 'virtiofs' | 'volume' | 'tmpfs' | 'other'; type: string; source: string; volume?: string; target: string; options: string[] }>
}

export async function inspectContainer(name: string): Promise<ContainerDetails> {
  const [entry] = z.array(inspectEntry).parse(JSON.parse((await sh`container inspect ${name}`).stdout))
  if (!entry) throw new OperationError(`container inspect ${name} printed nothing`)
  const { configuration: c } = entry
  const user = c.initProcess.user
  return {
    image: c.image.reference,
    env: c.initProcess.environment ?? [],
    user: user?.raw?.userString ?? (user?.id ? `${user.id.uid}:${user.id.gid}` : undefined),
    workdir: c.initProcess.workingDirectory,
    cpus: c.resources?.cpus,
    memoryBytes: c.resources?.memoryInBytes,
    networks: (c.networks ?? []).map((attachment) => attachment.network),
    readOnly: c.readOnly ?? false,
    dns: c.dns ? { nameservers: c.dns.nameservers, ...(c.dns.domain === undefined ? {} : { domain: c.dns.domain }), searchDomains: c.dns.searchDomains ?? [], options: c.dns.options ?? [] } : null,
    mounts: (c.mounts ?? []).map((mount) => {
      const kind = (['virtiofs', 'volume', 'tmpfs'] as const).find((type) => type in mount.type) ?? 'other'
      return { kind, type: Object.keys(mount.type)[0] ?? '', source: mount.source, volume: mount.type.volume?.name, target: mount.destination, options: mount.options ?? [] }
    }),
  }
}

/** The networks of this host, by id, with their mode (`nat`, or `hostOnly` for --internal). */
export async function listNetworks(): Promise<Map<string, string>> {
  const entries = z.array(z.looseObject({ id: z.string(), configuration: z.optional(z.looseObject({ mode: z.optional(z.string()) })) })).parse(JSON.parse((await sh`container network list --format json`).stdout || '[]'))
  return new Map(entries.map((entry) => [entry.id, entry.configuration?.mode ?? 'nat']))
}

export async function createNetwork(name: string, hostOnly: boolean): Promise<void> {
  await sh`container network create ${hostOnly ? ['--internal'] : []} ${name}`
}

/** Whether a named volume exists (only "not found" means absent). */
export async function volumeExists(name: string): Promise<boolean> {
  const result = await sh({ nothrow: true })`container volume inspect ${name}`
  if (result.exitCode === 0) return true
  if (NOT_FOUND.test(result.stderr)) return false
  throw new ToolError(`container volume inspect ${name}`, result.exitCode, result.stderr)
}

export async function startContainer(name: string): Promise<void> {
  await sh`container start ${name}`
}

export async function execAsRoot(name: string, command: string[]): Promise<string> {
  return (await sh`container exec --user root ${name} ${command}`).stdout
}

/** The argv that opens an interactive shell in a container. */
export const shellArgv = (name: string, shell: string[]): [string, ...string[]] => ['container', 'exec', '--interactive', '--tty', name, ...shell]

/** `container exec` of a command whose stdout is data, not text: the argv, for a pipeline. */
export const execArgv = (name: string, command: string[]): [string, ...string[]] => ['container', 'exec', '--user', 'root', name, ...command]

export async function deleteContainer(name: string): Promise<void> {
  await sh`container delete --force ${name}`
}

export async function buildImage(tag: string, dockerfile: string, context: string): Promise<void> {
  await sh`container build --tag ${tag} --file ${dockerfile} ${context}`
}

const NOT_FOUND = /not found/i

export async function imageExists(reference: string): Promise<boolean> {
  const result = await sh({ nothrow: true })`container image inspect ${reference}`
  if (result.exitCode === 0) return true
  if (NOT_FOUND.test(result.stderr)) return false
  throw new ToolError(`container image inspect ${reference}`, result.exitCode, result.stderr)
}

const imageConfigSchema = z.looseObject({
  User: z.optional(z.string()),
  WorkingDir: z.optional(z.string()),
  Env: z.nullish(z.array(z.string())),
  Entrypoint: z.nullish(z.array(z.string())),
  Cmd: z.nullish(z.array(z.string())),
  Labels: z.nullish(z.record(z.string(), z.string())),
})

// `container image inspect` (1.x ImageResource): {id, configuration: {name, descriptor,
// creationDate}, variants: [{platform, digest, size, config}]}, one variant per platform.
const imageInspect = z.array(
  z.looseObject({
    variants: z
      .array(
        z.looseObject({
          platform: z.looseObject({ os: z.string(), architecture: z.string() }),
          size: z.optional(z.number()),
          config: z.looseObject({ config: z.optional(imageConfigSchema) }),
        }),
      )
      .check(z.minLength(1)),
  }),
)

/** The platform `container run` picks by default: linux and this Mac's architecture (arm64 on Apple silicon). */
export const hostPlatform = () => ({ os: 'linux', architecture: process.arch === 'x64' ? 'amd64' : process.arch })

async function hostVariant(reference: string) {
  const [image] = imageInspect.parse(JSON.parse((await sh`container image inspect ${reference}`).stdout))
  const { os, architecture } = hostPlatform()
  const variant = image?.variants.find((entry) => entry.platform.os === os && entry.platform.architecture === architecture)
  if (!variant) {
    const platforms = (image?.variants ?? []).map((entry) => `${entry.platform.os}/${entry.platform.architecture}`)
    throw new OperationError(`image ${reference} has no ${os}/${architecture} variant (it has ${platforms.join(', ')})`)
  }
  return variant
}

/** The run settings of an image for this host's platform (user, workdir, env, entrypoint, cmd, labels). */
export async function imageConfig(reference: string): Promise<ImageConfig> {
  return (await hostVariant(reference)).config.config ?? {}
}

export async function imageSize(reference: string): Promise<number> {
  return (await hostVariant(reference)).size ?? 0
}

export async function tagImage(source: string, target: string): Promise<void> {
  await sh`container image tag ${source} ${target}`
}

/** `container image delete` takes several references at once. */
export async function deleteImages(references: string[]): Promise<void> {
  if (references.length > 0) await sh`container image delete ${references}`
}

export async function deleteImage(reference: string): Promise<void> {
  await sh({ nothrow: true })`container image delete ${reference}`
}

/** `container image save` writes an OCI image-layout tar to stdout. */
export const saveArgv = (reference: string): [string, ...string[]] => ['container', 'image', 'save', reference]

export async function loadImage(file: string): Promise<void> {
  await sh`container image load --input ${file}`
}
