// How a bottle runs, beyond its files: networks, runtime, capabilities, limits, mounts, volumes,
// sidecars. Commit records it (run-config.json in the state dir, and a label on the snapshot so it
// travels); every way a bottle comes back replays it, and refuses where it cannot (fail closed).
import * as z from 'zod/mini'
import { parseJson } from './schema.ts'
import { OperationError, UsageError } from './errors.ts'

export const RUN_CONFIG_FORMAT = 'bottle-tasks-run-config'
/**
 * 2: the confinement the platform adds is recorded (`run.platform`), and more of the container's
 * own fields. A version 1 record reads with the platform unknown (nothing to compare, said once).
 */
export const RUN_CONFIG_VERSION = 2
const READABLE_VERSIONS = [1, RUN_CONFIG_VERSION]

// The schemas are built on first use (a few ms of start-up that list, commit and --help never need).
function buildSchemas() {
  const text = z.string().check(z.maxLength(4096))
  const strings = z.array(text).check(z.maxLength(1000))
  const record = z.record(z.string().check(z.maxLength(512)), text)

  const networkSchema = z.object({
    name: text,
    driver: text,
    internal: z.boolean(),
    attachable: z.boolean(),
    ipv6: z.boolean(),
    /** IPAM config as recorded; the engine may have chosen it, so a taken subnet is not a refusal unless addresses are pinned. */
    subnets: z.array(z.object({ subnet: text, gateway: z.optional(text), ipRange: z.optional(text) })),
    options: record,
    labels: record,
    /** Made by compose for the project itself (`up` makes it again), not an external one. */
    composeManaged: z.boolean(),
  })

  const attachmentSchema = z.object({
    network: text,
    aliases: strings,
    /** Addresses the user pinned (IPAMConfig); the ones the engine assigned are not recorded. */
    ipv4Address: z.optional(text),
    ipv6Address: z.optional(text),
  })

  const mountSchema = z.object({
    type: z.enum(['volume', 'bind', 'tmpfs']),
    /** Volume name (volume), host path (bind), empty (tmpfs). */
    source: text,
    target: text,
    readOnly: z.boolean(),
    /** Volumes made by the engine for an image VOLUME or `-v /path`: their names are random, their data is not. */
    anonymous: z.optional(z.boolean()),
    driver: z.optional(text),
    propagation: z.optional(text),
    tmpfsOptions: z.optional(text),
  })

  const int = z.int()

  /**
   * What the platform adds to a bottle's confinement, whatever its own flags say (issue 21): a VM
   * between it and this host's kernel, an engine that runs unprivileged or remaps users, and the
   * profiles the engine gives every container. Absent in version 1 records: unknown.
   */
  const platformSchema = z.object({
    /** In words, for messages: "Docker 29.8.0 on Debian GNU/Linux 12 (bookworm)". */
    name: text,
    /** A VM between the bottle and this host's kernel (Docker Desktop and the like; every Apple container; every smolvm machine). */
    vm: z.boolean(),
    /** The engine runs without root (rootless mode): the bottle's root is an unprivileged user of the host. */
    rootless: z.boolean(),
    /** The engine remaps users (--userns-remap): root in the bottle is an unprivileged uid outside. */
    userns: z.boolean(),
    /** The seccomp profile the engine gives every container: "default" for its built-in one (29 says "builtin"), a custom profile's name, or absent. */
    seccomp: z.optional(text),
    apparmor: z.boolean(),
    selinux: z.boolean(),
    /** "1" or "2": recorded, not compared (what a cgroup version changes for limits is checked on the container itself). */
    cgroupVersion: z.optional(text),
  })

  const blkioSchema = z.object({
    weight: int,
    weightDevices: z.array(z.object({ path: text, weight: int })),
    readBps: z.array(z.object({ path: text, rate: int })),
    writeBps: z.array(z.object({ path: text, rate: int })),
    readIops: z.array(z.object({ path: text, rate: int })),
    writeIops: z.array(z.object({ path: text, rate: int })),
  })

  const dockerRunFields = {
    backend: z.literal('docker'),
    user: text,
    workdir: text,
    /** Absent when the engine chose it (the container id). */
    hostname: z.optional(text),
    domainname: z.optional(text),
    entrypoint: z.nullable(strings),
    cmd: z.nullable(strings),
    /** A terminal and open stdin: what keeps a bottle whose command is a shell alive. */
    tty: z.boolean(),
    /** The snapshot has /tmp and /var/tmp with mode 1777 (seen at commit): booting it needs no re-initialisation. */
    tempDirsReady: z.optional(z.boolean()),
    openStdin: z.boolean(),
    /** `NAME=value`; credentials as `NAME=` (their values never leave the host). */
    env: strings,
    secretEnv: strings,
    labels: record,
    init: z.boolean(),
    privileged: z.boolean(),
    readOnlyRootfs: z.boolean(),
    capAdd: strings,
    capDrop: strings,
    /** `seccomp=` carries the whole profile as the engine keeps it (compact JSON, tens of KiB). */
    securityOpt: z.array(z.string().check(z.maxLength(1 << 18))).check(z.maxLength(64)),
    runtime: text,
    /** `bridge`, `none`, `host`, a network's name, or `container:NAME` (a name, never an id). */
    networkMode: text,
    pidMode: text,
    ipcMode: text,
    utsMode: text,
    usernsMode: text,
    cgroupnsMode: text,
    resources: z.object({
      memory: int,
      memorySwap: int,
      memoryReservation: int,
      nanoCpus: int,
      cpuShares: int,
      cpuQuota: int,
      cpuPeriod: int,
      cpusetCpus: text,
      pidsLimit: int,
      shmSize: int,
      oomKillDisable: z.boolean(),
      ulimits: z.array(z.object({ name: text, soft: int, hard: int })),
      // Absent in version 1 records (not recorded then).
      cpusetMems: z.optional(text),
      oomScoreAdj: z.optional(int),
      /** null: the engine's default. */
      memorySwappiness: z.optional(z.nullable(int)),
      blkio: z.optional(blkioSchema),
      /** `--storage-opt size=…`: the writable layer's quota. */
      storageSize: z.optional(text),
    }),
    cgroupParent: z.optional(text),
    /** The AppArmor profile the container ran under, as the engine reports it ("docker-default", "unconfined", another). */
    apparmorProfile: z.optional(text),
    /** The SELinux process label it ran with (empty without SELinux). */
    selinuxLabel: z.optional(text),
    /** /proc and /sys paths masked or read-only in it (the engine's defaults unless it ran privileged or systempaths=unconfined). */
    maskedPaths: z.optional(strings),
    readonlyPaths: z.optional(strings),
    tmpfs: record,
    mounts: z.array(mountSchema),
    devices: z.array(z.object({ host: text, container: text, permissions: text })),
    extraHosts: strings,
    dns: strings,
    dnsSearch: strings,
    dnsOptions: strings,
    ports: z.array(z.object({ container: text, hostIp: text, hostPort: text })),
    restart: z.object({ name: text, maxRetries: int }),
    sysctls: record,
    groupAdd: strings,
    networks: z.array(attachmentSchema),
    /** Definitions of every user network the bottle is on: what resume creates where they are missing. */
    networkDefinitions: z.array(networkSchema),
  }

  /** How a sidecar of a compose bottle ran: checked after `compose create` as the agent is. */
  const sidecarRunSchema = z.object(dockerRunFields)

  const dockerRunSchema = z.object({
    ...dockerRunFields,
    platform: z.optional(platformSchema),
    /** A bottle that ran as a compose project (bot-bottle's docker backend) comes back as the whole project. */
    compose: z.optional(
      z.object({
        project: text,
        service: text,
        /** The compose file as the state dir keeps it (docker-compose.yml), and where the project ran. */
        configFiles: strings,
        workingDir: text,
        /** The other services (sidecars), the images they ran, and how (absent in version 1 records). */
        sidecars: z.array(z.object({ service: text, image: text, run: z.optional(sidecarRunSchema) })),
      }),
    ),
  })

  /** What Apple's `container run` lets a bottle have. */
  const appleRunSchema = z.object({
    backend: z.literal('macos-container'),
    /** Network ids; ['none'] for a container without networks. */
    networks: strings,
    /** The networks among them that were host-only (`container network create --internal`). */
    internalNetworks: strings,
    cpus: z.optional(int),
    memoryBytes: z.optional(int),
    /** Host directories (virtiofs). */
    mounts: z.array(z.object({ source: text, target: text, readOnly: z.boolean() })),
    /** Named volumes. */
    volumes: z.array(z.object({ name: text, target: text, readOnly: z.boolean() })),
    tmpfs: z.array(z.object({ target: text, options: strings })),
    /** Mounts of a kind `container run` cannot make (e.g. a block device image): resume refuses them unless relaxed. */
    otherMounts: z.optional(z.array(z.object({ type: text, source: text, target: text }))),
    user: z.optional(text),
    workdir: z.optional(text),
    envNames: strings,
    /** `--read-only` (absent in records made before it was kept: false). */
    readOnly: z.optional(z.boolean()),
    /** `--dns…` as configured; null: `--no-dns`; absent in records made before it was kept. */
    dns: z.optional(z.nullable(z.object({ nameservers: strings, domain: z.optional(text), searchDomains: strings, options: strings }))),
    platform: z.optional(platformSchema),
  })

  /** What `smolvm machine create` lets a VM have. */
  const smolRunSchema = z.object({
    backend: z.literal('smolmachines'),
    cpus: z.optional(int),
    memoryMib: z.optional(int),
    network: z.boolean(),
    volumes: z.array(z.object({ host: text, guest: text, readOnly: z.boolean() })),
    ports: strings,
    workdir: z.optional(text),
    envNames: strings,
    /** Who the agent runs as in the VM (its image's USER); exec itself runs as root in our packs. */
    user: z.optional(text),
    platform: z.optional(platformSchema),
  })

  const runConfigSchema = z.object({
    format: z.literal(RUN_CONFIG_FORMAT),
    version: z.union([z.literal(1), z.literal(RUN_CONFIG_VERSION)]),
    recordedAt: z.string(),
    run: z.discriminatedUnion('backend', [dockerRunSchema, appleRunSchema, smolRunSchema]),
  })
  return { networkSchema, mountSchema, platformSchema, sidecarRunSchema, dockerRunSchema, appleRunSchema, smolRunSchema, runConfigSchema }
}
let built: ReturnType<typeof buildSchemas> | undefined
const schemas = () => (built ??= buildSchemas())
type Schemas = ReturnType<typeof buildSchemas>

export const runConfigSchema = z.lazy(() => schemas().runConfigSchema)
export type NetworkDefinition = z.infer<Schemas['networkSchema']>
export type MountDefinition = z.infer<Schemas['mountSchema']>
export type DockerRun = z.infer<Schemas['dockerRunSchema']>
export type SidecarRun = z.infer<Schemas['sidecarRunSchema']>
export type Platform = z.infer<Schemas['platformSchema']>
export type AppleRun = z.infer<Schemas['appleRunSchema']>
export type SmolRun = z.infer<Schemas['smolRunSchema']>
export type RunConfig = z.infer<Schemas['runConfigSchema']>
export type BackendRun = RunConfig['run']

export function runConfigOf(run: BackendRun): RunConfig {
  return { format: RUN_CONFIG_FORMAT, version: RUN_CONFIG_VERSION, recordedAt: new Date().toISOString(), run }
}

/** Parse how a VM was created (the SmolRun a smolvm machine's label carries); bad input names where. */
export function parseSmolRun(json: string, where: string): SmolRun {
  return parseJson(z.lazy(() => schemas().smolRunSchema), json, where)
}

/** Parse a run config from JSON text found at `where` (a file, a label); bad input names where. */
export function parseRunConfig(json: string, where: string): RunConfig {
  let root: unknown
  try {
    root = JSON.parse(json)
  } catch {
    root = undefined
  }
  const version = (root as { version?: unknown } | null | undefined)?.version
  if (typeof version === 'number' && !READABLE_VERSIONS.includes(version)) {
    throw new UsageError(`${where}: run configuration version ${version} is not supported (this tool reads versions ${READABLE_VERSIONS.join(' and ')})`)
  }
  return parseJson(runConfigSchema, json, where)
}

/**
 * Confining properties a user may accept losing, by name (`resume --relax runtime`). Anything not
 * relaxed that cannot be reproduced is a refusal: exit 1, one line, nothing booted.
 */
export const RELAX_KEYS = {
  runtime: 'boot with the engine default runtime when the recorded one (e.g. runsc) is not installed',
  networks: 'use or create a network that differs from its recorded definition (e.g. not internal, another driver)',
  'network-mode': 'boot on the default network, sharing no namespace, when the container whose namespaces it shared is gone',
  binds: 'boot without bind mounts whose host path does not exist here',
  devices: 'boot without devices this host lacks',
  volumes: 'boot with new empty volumes in place of named volumes that are gone',
  limits: 'boot although the engine cannot enforce a recorded limit (memory swap, pids, …)',
  sidecars: 'bring a compose bottle up without the sidecars whose images are missing',
  unrecorded: 'boot with defaults a snapshot that has no record of how it ran (made before bottle-tasks recorded runs, or by hand)',
  userns: 'boot on an engine that does not remap users, where the bottle ran on one that did (its root becomes the host\'s root)',
  rootless: 'boot on an engine that runs as root, where the bottle ran on a rootless one',
  seccomp: 'boot under another seccomp profile (or none) than the engine it ran on gave every container',
  apparmor: 'boot on an engine without AppArmor, where the bottle ran under it',
  selinux: 'boot on an engine without SELinux, where the bottle ran under it',
  vm: 'boot without the VM that stood between the bottle and the host where it ran (Docker Desktop and the like)',
} as const
export type RelaxKey = keyof typeof RELAX_KEYS

export function parseRelax(value: string, flag: string): RelaxKey[] {
  const keys = value.split(',').map((key) => key.trim()).filter(Boolean)
  for (const key of keys) {
    if (!(key in RELAX_KEYS)) throw new UsageError(`unknown ${flag} "${key}": use ${Object.keys(RELAX_KEYS).join(', ')}`)
  }
  return keys as RelaxKey[]
}

/**
 * A confining property this host cannot reproduce: resume refuses with it unless the user relaxed
 * `key`. Thrown before anything boots.
 */
export class Unreproducible extends Error {
  constructor(
    readonly key: RelaxKey,
    readonly what: string,
  ) {
    super(`${what}: refused to boot a weaker bottle (nothing was booted); to accept it, resume with --relax ${key}`)
    this.name = 'Unreproducible'
  }
}

/** What a boot may relax (the user's --relax keys) and what it relaxed, for the user. */
export interface Relaxing {
  relax: ReadonlySet<RelaxKey>
  /** What was relaxed: appended to. */
  relaxed: string[]
  report: (message: string) => void
}

/** Refuse (Unreproducible) unless the user relaxed `key`; then note what was relaxed. */
export function relaxOrRefuse(plan: Relaxing, key: RelaxKey, what: string): void {
  if (!plan.relax.has(key)) throw new Unreproducible(key, what)
  plan.relaxed.push(`${key}: ${what}`)
  plan.report(`relaxed (--relax ${key}): ${what}`)
}

/**
 * No record of how the bottle ran (its snapshot was made before bottle-tasks recorded runs, or by
 * hand): booting takes the defaults, which may be far weaker than it ran (a bot-bottle compose
 * bottle without its egress proxy and internal network). Refused unless relaxed by name, except
 * for a bottle rebuilt from its image that was never a compose project (what `start` makes).
 */
export function bootWithoutRecord(plan: Relaxing, { rebuilt = false, composeProject = '' }: { rebuilt?: boolean; composeProject?: string } = {}): void {
  // A bottle never committed, rebuilt from its image, boots as `start` made it; a compose one does not.
  if (rebuilt && !composeProject) {
    plan.report('no run configuration recorded (never committed): booting as start makes a bottle')
    return
  }
  relaxOrRefuse(plan, 'unrecorded', UNRECORDED)
}

/** A run recorded for another backend is not this one's to boot (never with defaults either). */
export function refuseOtherBackend<B extends BackendRun['backend']>(run: BackendRun | undefined, backend: B): asserts run is Extract<BackendRun, { backend: B }> | undefined {
  if (run && run.backend !== backend) {
    const vm = run.platform?.vm ? `; it ran in a VM (${run.platform.name}), which a ${backend} bottle here would not have` : ''
    throw new OperationError(`the recorded run configuration is a ${run.backend} bottle's, not a ${backend} one: refused to boot it with defaults${vm}`)
  }
}

/** The seccomp profile by what it is: engines before 25 call their built-in one "default", later ones "builtin". */
const seccompProfile = (name: string | undefined) => (name === 'builtin' ? 'default' : name === 'unconfined' ? undefined : name)

/**
 * How the platform here confines less than the one the bottle ran on (empty: it does not). More
 * confinement here is fine: each property is only required where the bottle had it.
 */
export function platformShortfalls(ran: Platform, here: Platform): Array<{ key: RelaxKey; what: string }> {
  const shortfalls: Array<{ key: RelaxKey; what: string }> = []
  if (ran.vm && !here.vm) shortfalls.push({ key: 'vm', what: `it ran in a VM (${ran.name}), and ${here.name} runs containers on this host's kernel` })
  if (ran.rootless && !here.rootless) shortfalls.push({ key: 'rootless', what: `it ran on a rootless engine (${ran.name}), and ${here.name} runs as root` })
  // A rootless engine maps users too (the bottle's root is the user that runs the engine).
  if (ran.userns && !here.userns && !here.rootless) shortfalls.push({ key: 'userns', what: `it ran with user namespaces remapped (${ran.name}: its root was an unprivileged uid of the host), and ${here.name} does not remap them` })
  const [ranSeccomp, hereSeccomp] = [seccompProfile(ran.seccomp), seccompProfile(here.seccomp)]
  if (ranSeccomp && ranSeccomp !== hereSeccomp) shortfalls.push({ key: 'seccomp', what: `it ran under the engine's seccomp profile "${ranSeccomp}", and ${here.name} gives ${hereSeccomp ? `"${hereSeccomp}"` : 'none'}` })
  if (ran.apparmor && !here.apparmor) shortfalls.push({ key: 'apparmor', what: `it ran under AppArmor, and ${here.name} has none` })
  if (ran.selinux && !here.selinux) shortfalls.push({ key: 'selinux', what: `it ran under SELinux, and ${here.name} has none` })
  return shortfalls
}

/**
 * Before anything is made: the platform here must confine as the one the bottle ran on did, each
 * shortfall refused unless relaxed by name. A record without the platform (version 1) has nothing
 * to compare, which is said.
 */
export function checkPlatform(plan: Relaxing, run: BackendRun, here: Platform): void {
  if (!run.platform) {
    plan.report(`the record does not say what the platform it ran on added (a record from before they were kept): not compared with ${here.name}`)
    return
  }
  for (const shortfall of platformShortfalls(run.platform, here)) relaxOrRefuse(plan, shortfall.key, shortfall.what)
}

/** The same refusal, before anything is copied (fork): nothing is noted as relaxed yet. */
export function refuseUnrecorded(run: BackendRun | undefined, relax: ReadonlySet<RelaxKey>): void {
  if (!run && !relax.has('unrecorded')) throw new Unreproducible('unrecorded', UNRECORDED)
}

const UNRECORDED = 'there is no record of how this bottle ran (a snapshot from before bottle-tasks recorded runs, or made by hand), so its sandbox cannot be reproduced'

/** The recorded configuration in short, one line per aspect, for `list SLUG`. */
export function summarize(config: RunConfig): string[] {
  return [...summarizeRun(config.run), platformLine(config.run.platform)]
}

/** What the platform added, in short: `platform: Docker 29.8.0 on …: seccomp default, userns remapped, cgroup v2`. */
function platformLine(platform: Platform | undefined): string {
  if (!platform) return 'platform: not recorded (a record from before it was kept)'
  const parts = [
    platform.vm && 'a VM',
    platform.rootless && 'rootless',
    platform.userns && 'users remapped (userns)',
    platform.seccomp && `seccomp ${platform.seccomp}`,
    platform.apparmor && 'AppArmor',
    platform.selinux && 'SELinux',
    platform.cgroupVersion && `cgroup v${platform.cgroupVersion}`,
  ].filter(Boolean)
  return `platform: ${platform.name}${parts.length > 0 ? `: ${parts.join(', ')}` : ''}`
}

function summarizeRun(run: BackendRun): string[] {
  if (run.backend === 'macos-container') {
    return [
      `networks: ${run.networks.map((network) => `${network}${run.internalNetworks.includes(network) ? ' (internal)' : ''}`).join(', ') || 'default'}`,
      `limits: ${[run.cpus && `cpus ${run.cpus}`, run.memoryBytes && `memory ${run.memoryBytes}`, run.readOnly && 'read-only root', run.dns === null ? 'no DNS' : run.dns?.nameservers.length && `DNS ${run.dns.nameservers.join(' ')}`].filter(Boolean).join(', ') || 'none'}`,
      `mounts: ${[...run.mounts.map((mount) => `${mount.source}:${mount.target}${mount.readOnly ? ':ro' : ''}`), ...run.volumes.map((volume) => `volume ${volume.name}:${volume.target}${volume.readOnly ? ':ro' : ''}`), ...run.tmpfs.map((tmpfs) => `tmpfs ${tmpfs.target}`)].join(', ') || 'none'}`,
      `user: ${run.user || 'image default'}, workdir: ${run.workdir || 'image default'}, env: ${run.envNames.join(', ') || 'none'}`,
    ]
  }
  if (run.backend === 'smolmachines') {
    return [
      `network: ${run.network ? 'on' : 'off'}${run.ports.length > 0 ? `, ports ${run.ports.join(', ')}` : ''}`,
      `limits: ${[run.cpus && `cpus ${run.cpus}`, run.memoryMib && `memory ${run.memoryMib} MiB`].filter(Boolean).join(', ') || 'defaults'}`,
      `volumes: ${run.volumes.map((volume) => `${volume.host}:${volume.guest}${volume.readOnly ? ':ro' : ''}`).join(', ') || 'none'}`,
      `user: ${run.user || 'root'}, workdir: ${run.workdir || 'image default'}, env: ${run.envNames.join(', ') || 'none'}`,
    ]
  }
  const definitions = new Map(run.networkDefinitions.map((network) => [network.name, network]))
  const networks = run.networks.map((attachment) => {
    const definition = definitions.get(attachment.network)
    return `${attachment.network}${definition?.internal ? ' (internal)' : ''}`
  })
  const limits = [
    run.resources.memory && `memory ${run.resources.memory}`,
    run.resources.nanoCpus && `cpus ${run.resources.nanoCpus / 1e9}`,
    run.resources.pidsLimit > 0 && `pids ${run.resources.pidsLimit}`,
    run.readOnlyRootfs && 'read-only rootfs',
  ].filter(Boolean)
  return [
    ...(run.compose ? [`compose: project ${run.compose.project}, service ${run.compose.service}, sidecars ${run.compose.sidecars.map((sidecar) => sidecar.service).join(', ') || 'none'}`] : []),
    `network: ${run.networkMode.startsWith('container:') ? run.networkMode : networks.join(', ') || run.networkMode}`,
    `runtime: ${run.runtime || 'engine default'}${run.privileged ? ', privileged' : ''}`,
    `capabilities: ${[...run.capDrop.map((cap) => `-${cap}`), ...run.capAdd.map((cap) => `+${cap}`)].join(' ') || 'engine default'}; security: ${run.securityOpt.map((option) => (option.startsWith('seccomp={') ? 'seccomp=(a profile of its own)' : option)).join(', ') || 'engine default'}`,
    `limits: ${limits.join(', ') || 'none'}`,
    `mounts: ${run.mounts.map((mount) => `${mount.type} ${mount.anonymous ? '(anonymous)' : mount.source}:${mount.target}${mount.readOnly ? ':ro' : ''}`).join(', ') || 'none'}`,
    `user: ${run.user || 'image default'}, hostname: ${run.hostname ?? 'engine-chosen'}`,
  ]
}

/** Host paths a bottle bind-mounts: never carried to another host, listed so it knows. */
export function bindsOf(run: BackendRun | undefined): string[] {
  if (!run) return []
  if (run.backend === 'docker') return run.mounts.filter((mount) => mount.type === 'bind').map((mount) => mount.source)
  if (run.backend === 'macos-container') return run.mounts.map((mount) => mount.source)
  return run.volumes.map((volume) => volume.host)
}

/**
 * The run of a bottle that takes another slug (fork, import --as): names that carried the old
 * slug carry the new one — named volumes, and for a compose bottle its project and networks (a
 * plain bottle keeps sharing its networks). `volumeName` decides the other volumes' names.
 */
export function renameRun(run: BackendRun, from: string, to: string, volumeName: (name: string) => string = (name) => name): BackendRun {
  if (run.backend !== 'docker') return run
  const rename = (name: string) => name.split(from).join(to)
  const renamed: DockerRun = {
    ...run,
    mounts: run.mounts.map((mount) => (mount.type === 'volume' ? { ...mount, source: mount.source.includes(from) ? rename(mount.source) : volumeName(mount.source) } : mount)),
  }
  if (!run.compose) return renamed
  return {
    ...renamed,
    networks: renamed.networks.map((attachment) => ({ ...attachment, network: rename(attachment.network) })),
    networkDefinitions: renamed.networkDefinitions.map((network) => ({ ...network, name: rename(network.name) })),
    networkMode: rename(renamed.networkMode),
    compose: { ...run.compose, project: rename(run.compose.project), configFiles: [], workingDir: '' },
  }
}

/** A compose file for a bottle that took another slug (same renames as renameRun). */
export function renameComposeFile(text: string, from: string, to: string, volumes: Map<string, string> = new Map()): string {
  let renamed = text.split(from).join(to)
  for (const [source, copy] of volumes) if (!source.includes(from)) renamed = renamed.split(source).join(copy)
  return renamed
}

/**
 * The name a volume of an imported bottle gets here: its own slug's. A name that carried the
 * bottle's slug carries the importing one; another (`pgdata`, an anonymous volume's id) is prefixed
 * with `bot-bottle-<slug>-`, so a bundle can never name, fill or mount a volume that is not its own.
 */
export function importedVolumeName(name: string, from: string, to: string, index: number): string {
  if (name.includes(from)) return name.split(from).join(to)
  return /^[0-9a-f]{64}$/.test(name) ? `bot-bottle-${to}-volume-${index + 1}` : `bot-bottle-${to}-${name}`
}

/** The named volumes a run mounts, in order. */
export function namedVolumesOf(run: BackendRun | undefined): string[] {
  return run?.backend === 'docker' ? run.mounts.filter((mount) => mount.type === 'volume').map((mount) => mount.source) : []
}
