// The docker backend's run configuration: read from `docker inspect` at commit, turned back into
// `docker create` flags on resume, and compared with what the engine actually made before anything
// starts (an engine may drop a limit with only a warning).
import type { EngineInfo } from '../docker.ts'
import { OperationError } from '../errors.ts'
import { COMPOSE_LABELS } from '../names.ts'
import type { DockerRun, MountDefinition, NetworkDefinition, Platform, RelaxKey, SidecarRun } from '../run-config.ts'
import type { ContainerInspect, NetworkInspect } from './docker-inspect.ts'
import { mountValue } from './docker-mount.ts'

/** The networks every engine has: never recorded as definitions, never created. */
export const PREDEFINED_NETWORKS = new Set(['bridge', 'host', 'none', 'default'])

/** Names of the user networks a container is on (what commit must inspect). */
export function userNetworks(container: ContainerInspect): string[] {
  return Object.keys(container.NetworkSettings.Networks ?? {}).filter((name) => !PREDEFINED_NETWORKS.has(name))
}

/**
 * What a container's inspection says about how it runs. `imageLabels` are the labels it has from
 * its image (not its own); `secretNames` keep their names only; `containerNames` maps ids to names
 * for `container:<id>` modes; networks are the definitions of the user networks it is on.
 */
export function recordDockerRun(
  container: ContainerInspect,
  input: { imageLabels: Record<string, string>; secretNames: string[]; networks: NetworkInspect[]; containerNames: Map<string, string>; composeSidecars?: Array<{ service: string; image: string }>; composeFile?: string },
): DockerRun {
  const host = container.HostConfig
  const config = container.Config
  const shortId = container.Id.slice(0, 12)
  const secrets = new Set(input.secretNames)
  const ownLabels = Object.fromEntries(
    Object.entries(config.Labels ?? {}).filter(([key, value]) => !key.startsWith('bot-bottle.') && !key.startsWith('com.docker.compose.') && input.imageLabels[key] !== value),
  )
  // `container:<id>` ties the bottle to one container of this host: keep its name, which means something on resume.
  const byName = (mode: string | undefined) => {
    const value = mode ?? ''
    if (!value.startsWith('container:')) return value
    const id = value.slice('container:'.length)
    const name = [...input.containerNames.entries()].find(([candidate]) => candidate.startsWith(id) || id.startsWith(candidate))?.[1]
    return `container:${name ?? id}`
  }
  const hostMounts = new Map((host.Mounts ?? []).map((mount) => [mount.Target, mount]))
  const asked = askedPropagation(container)
  const mounts: MountDefinition[] = (container.Mounts ?? [])
    .filter((mount) => mount.Type === 'volume' || mount.Type === 'bind')
    .map((mount) => ({
      type: mount.Type as 'volume' | 'bind',
      source: (mount.Type === 'volume' ? mount.Name : mount.Source) ?? '',
      target: mount.Destination,
      readOnly: mount.RW === false,
      ...(mount.Type === 'volume' ? { anonymous: /^[0-9a-f]{64}$/.test(mount.Name ?? ''), driver: mount.Driver || 'local' } : {}),
      // The propagation the user asked for; the engine's own choice (rslave for a bind of `/`,
      // rprivate otherwise) is its to make again.
      ...(mount.Type === 'bind' && asked.has(mount.Destination) ? { propagation: asked.get(mount.Destination)! } : {}),
    }))
  for (const mount of hostMounts.values()) {
    if (mount.Type !== 'tmpfs') continue
    const options = [mount.TmpfsOptions?.SizeBytes && `size=${mount.TmpfsOptions.SizeBytes}`, mount.TmpfsOptions?.Mode && `mode=${mount.TmpfsOptions.Mode.toString(8)}`].filter(Boolean).join(',')
    mounts.push({ type: 'tmpfs', source: '', target: mount.Target, readOnly: mount.ReadOnly ?? false, ...(options ? { tmpfsOptions: options } : {}) })
  }
  const compose = config.Labels?.[COMPOSE_LABELS.project]
  const networkMode = byName(host.NetworkMode) || 'default'
  return {
    backend: 'docker',
    user: config.User ?? '',
    workdir: config.WorkingDir ?? '',
    // Sharing another container's network namespace, the hostname is that container's (the engine copies it in).
    ...(config.Hostname && config.Hostname !== shortId && !networkMode.startsWith('container:') ? { hostname: config.Hostname } : {}),
    ...(config.Domainname ? { domainname: config.Domainname } : {}),
    entrypoint: config.Entrypoint ?? null,
    cmd: config.Cmd ?? null,
    tty: config.Tty ?? false,
    openStdin: config.OpenStdin ?? false,
    env: (config.Env ?? []).map((entry) => {
      const name = entry.split('=', 1)[0]!
      return secrets.has(name) ? `${name}=` : entry
    }),
    secretEnv: input.secretNames,
    labels: ownLabels,
    init: host.Init ?? false,
    privileged: host.Privileged ?? false,
    readOnlyRootfs: host.ReadonlyRootfs ?? false,
    capAdd: host.CapAdd ?? [],
    capDrop: host.CapDrop ?? [],
    securityOpt: host.SecurityOpt ?? [],
    runtime: host.Runtime || 'runc',
    networkMode,
    pidMode: byName(host.PidMode),
    ipcMode: byName(host.IpcMode),
    utsMode: host.UTSMode ?? '',
    usernsMode: host.UsernsMode ?? '',
    cgroupnsMode: host.CgroupnsMode ?? '',
    resources: {
      memory: host.Memory ?? 0,
      memorySwap: host.MemorySwap ?? 0,
      memoryReservation: host.MemoryReservation ?? 0,
      nanoCpus: host.NanoCpus ?? 0,
      cpuShares: host.CpuShares ?? 0,
      cpuQuota: host.CpuQuota ?? 0,
      cpuPeriod: host.CpuPeriod ?? 0,
      cpusetCpus: host.CpusetCpus ?? '',
      pidsLimit: host.PidsLimit ?? 0,
      shmSize: host.ShmSize ?? 0,
      oomKillDisable: host.OomKillDisable ?? false,
      ulimits: (host.Ulimits ?? []).map((ulimit) => ({ name: ulimit.Name, soft: ulimit.Soft, hard: ulimit.Hard })),
      cpusetMems: host.CpusetMems ?? '',
      oomScoreAdj: host.OomScoreAdj ?? 0,
      // -1 and null both say "the engine's default".
      memorySwappiness: host.MemorySwappiness === undefined || host.MemorySwappiness === null || host.MemorySwappiness < 0 ? null : host.MemorySwappiness,
      blkio: {
        weight: host.BlkioWeight ?? 0,
        weightDevices: (host.BlkioWeightDevice ?? []).map((device) => ({ path: device.Path, weight: device.Weight })),
        readBps: rates(host.BlkioDeviceReadBps),
        writeBps: rates(host.BlkioDeviceWriteBps),
        readIops: rates(host.BlkioDeviceReadIOps),
        writeIops: rates(host.BlkioDeviceWriteIOps),
      },
      ...(host.StorageOpt?.size ? { storageSize: host.StorageOpt.size } : {}),
    },
    cgroupParent: host.CgroupParent ?? '',
    apparmorProfile: container.AppArmorProfile ?? '',
    selinuxLabel: container.ProcessLabel ?? '',
    maskedPaths: host.MaskedPaths ?? [],
    readonlyPaths: host.ReadonlyPaths ?? [],
    tmpfs: host.Tmpfs ?? {},
    mounts,
    devices: (host.Devices ?? []).map((device) => ({ host: device.PathOnHost, container: device.PathInContainer, permissions: device.CgroupPermissions })),
    extraHosts: host.ExtraHosts ?? [],
    dns: host.Dns ?? [],
    dnsSearch: host.DnsSearch ?? [],
    dnsOptions: host.DnsOptions ?? [],
    ports: Object.entries(host.PortBindings ?? {}).flatMap(([port, bindings]) => (bindings ?? []).map((binding) => ({ container: port, hostIp: binding.HostIp ?? '', hostPort: binding.HostPort ?? '' }))),
    restart: { name: host.RestartPolicy?.Name || 'no', maxRetries: host.RestartPolicy?.MaximumRetryCount ?? 0 },
    sysctls: host.Sysctls ?? {},
    groupAdd: host.GroupAdd ?? [],
    networks: Object.entries(container.NetworkSettings.Networks ?? {})
      .filter(([name]) => !PREDEFINED_NETWORKS.has(name))
      .map(([name, endpoint]) => ({
        network: name,
        // The engine adds the short id (and on newer engines keeps it apart); ours are the rest.
        aliases: (endpoint.Aliases ?? []).filter((alias) => alias !== shortId && alias !== container.Id),
        ...(endpoint.IPAMConfig?.IPv4Address ? { ipv4Address: endpoint.IPAMConfig.IPv4Address } : {}),
        ...(endpoint.IPAMConfig?.IPv6Address ? { ipv6Address: endpoint.IPAMConfig.IPv6Address } : {}),
      })),
    networkDefinitions: input.networks.map((network) => networkDefinition(network, compose)),
    ...(compose
      ? {
          compose: {
            project: compose,
            service: config.Labels?.[COMPOSE_LABELS.service] ?? '',
            configFiles: input.composeFile ? [input.composeFile] : (config.Labels?.[COMPOSE_LABELS.configFiles] ?? '').split(',').filter(Boolean),
            workingDir: config.Labels?.[COMPOSE_LABELS.workingDir] ?? '',
            sidecars: input.composeSidecars ?? [],
          },
        }
      : {}),
  }
}

const rates = (devices: Array<{ Path: string; Rate: number }> | null | undefined) => (devices ?? []).map((device) => ({ path: device.Path, rate: device.Rate }))

const PROPAGATIONS = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'])

/**
 * The bind propagation the user asked for, by target: from --mount (HostConfig.Mounts) or from the
 * options of -v (HostConfig.Binds, `SRC:DST:OPTIONS`). What `docker inspect` shows in Mounts is the
 * engine's result, which it chooses itself where nothing was asked.
 */
function askedPropagation(container: ContainerInspect): Map<string, string> {
  const asked = new Map<string, string>()
  for (const mount of container.HostConfig.Mounts ?? []) if (mount.Type === 'bind' && mount.BindOptions?.Propagation) asked.set(mount.Target, mount.BindOptions.Propagation)
  for (const bind of container.HostConfig.Binds ?? []) {
    const parts = bind.split(':')
    if (parts.length < 3) continue
    const propagation = parts.at(-1)!.split(',').find((option) => PROPAGATIONS.has(option))
    if (propagation) asked.set(parts.at(-2)!, propagation)
  }
  return asked
}

/** What the docker engine adds to every container's confinement, from its `docker info`. */
export function dockerPlatform(info: EngineInfo): Platform {
  const options = info.securityOptions.map((option) => new Map(option.split(',').map((pair) => pair.split('=', 2) as [string, string])))
  const named = (name: string) => options.find((option) => option.get('name') === name)
  const seccomp = named('seccomp')
  return {
    name: `Docker ${info.serverVersion}${info.operatingSystem ? ` on ${info.operatingSystem}` : ''}`,
    vm: inVm(info),
    rootless: Boolean(named('rootless')),
    userns: Boolean(named('userns')),
    ...(seccomp ? { seccomp: seccomp.get('profile') ?? 'default' } : {}),
    apparmor: Boolean(named('apparmor')),
    selinux: Boolean(named('selinux')),
    ...(info.cgroupVersion ? { cgroupVersion: info.cgroupVersion } : {}),
  }
}

/**
 * Whether the engine runs in a VM of its own, as the desktop products put one between containers
 * and the machine: Docker Desktop (OperatingSystem "Docker Desktop", a linuxkit kernel), WSL 2
 * (a "microsoft-standard-WSL2" kernel), OrbStack, Rancher Desktop, Colima and Lima (their VM's host name).
 */
function inVm(info: EngineInfo): boolean {
  return /Docker Desktop|OrbStack|Rancher Desktop/i.test(info.operatingSystem) || /linuxkit|microsoft-standard|orbstack/i.test(info.kernelVersion) || /^(colima|lima-)/.test(info.name)
}

function networkDefinition(network: NetworkInspect, composeProject: string | undefined): NetworkDefinition {
  return {
    name: network.Name,
    driver: network.Driver,
    internal: network.Internal ?? false,
    attachable: network.Attachable ?? false,
    ipv6: network.EnableIPv6 ?? false,
    subnets: (network.IPAM?.Config ?? [])
      .filter((entry) => entry.Subnet)
      .map((entry) => ({ subnet: entry.Subnet!, ...(entry.Gateway ? { gateway: entry.Gateway } : {}), ...(entry.IPRange ? { ipRange: entry.IPRange } : {}) })),
    options: network.Options ?? {},
    labels: network.Labels ?? {},
    composeManaged: composeProject !== undefined && network.Labels?.[COMPOSE_LABELS.project] === composeProject,
  }
}

/** `docker network create` flags that make `network` again (the subnet only when `withSubnet`). */
export function networkCreateFlags(network: NetworkDefinition, withSubnet: boolean): string[] {
  return [
    '--driver',
    network.driver,
    ...(network.internal ? ['--internal'] : []),
    ...(network.attachable ? ['--attachable'] : []),
    ...(network.ipv6 ? ['--ipv6'] : []),
    ...(withSubnet
      ? network.subnets.flatMap((entry) => ['--subnet', entry.subnet, ...(entry.gateway ? ['--gateway', entry.gateway] : []), ...(entry.ipRange ? ['--ip-range', entry.ipRange] : [])])
      : []),
    ...Object.entries(network.options).flatMap(([key, value]) => ['--opt', `${key}=${value}`]),
    ...Object.entries(network.labels).flatMap(([key, value]) => ['--label', `${key}=${value}`]),
  ]
}

/** How an existing network of that name falls short of the recorded one (empty: it does not). */
export function networkShortfalls(recorded: NetworkDefinition, existing: NetworkInspect): string[] {
  const shortfalls: string[] = []
  if (recorded.internal && !existing.Internal) shortfalls.push('is not internal')
  if (recorded.driver !== existing.Driver) shortfalls.push(`has driver ${existing.Driver}, not ${recorded.driver}`)
  // IPv6 where the bottle had none is a way out its IPv4 rules never saw.
  if (!recorded.ipv6 && existing.EnableIPv6) shortfalls.push('has IPv6, which the recorded one had not')
  for (const [key, value] of Object.entries(recorded.options)) {
    // Options that confine (icc off, no masquerade) must be the same; names and MTUs need not.
    if (/enable_icc|enable_ip_masquerade|internal/.test(key) && (existing.Options ?? {})[key] !== value) shortfalls.push(`has ${key}=${(existing.Options ?? {})[key] ?? 'unset'}, not ${value}`)
  }
  return shortfalls
}

export interface CreateInput {
  name: string
  labels: Record<string, string>
  run: DockerRun
  /** Credentials passed by name: docker takes their values from this process's environment. */
  envFromHost: string[]
  /** What the image already gives (entrypoint and cmd are passed only when the run differs). */
  image: { entrypoint: string[] | null; cmd: string[] | null }
  /** Leave these out (relaxed by the user). */
  skip: { runtime?: boolean; binds?: Set<string>; devices?: Set<string>; networkMode?: boolean }
}

/** `docker create` flags and the command, so that the container runs as recorded; the first network is joined at create, the rest after. */
export function createArgs({ name, labels, run, envFromHost, image, skip }: CreateInput): { flags: string[]; command: string[] } {
  const r = run.resources
  const firstNetwork = run.networks[0]
  const networkMode = skip.networkMode ? 'default' : run.networkMode
  // Relaxed (the container whose namespaces it shared is gone): it shares none.
  const shared = (mode: string) => (skip.networkMode && mode.startsWith('container:') ? '' : mode)
  const flags = [
    '--name', name,
    ...(run.tty ? ['--tty'] : []),
    ...(run.openStdin ? ['--interactive'] : []),
    ...Object.entries({ ...run.labels, ...labels }).flatMap(([key, value]) => ['--label', `${key}=${value}`]),
    ...run.env.filter((entry) => !run.secretEnv.includes(entry.split('=', 1)[0]!)).flatMap((entry) => ['--env', entry]),
    ...envFromHost.flatMap((variable) => ['--env', variable]),
    ...(run.user ? ['--user', run.user] : []),
    ...(run.workdir ? ['--workdir', run.workdir] : []),
    ...(run.hostname && !networkMode.startsWith('container:') ? ['--hostname', run.hostname] : []),
    ...(run.domainname && !networkMode.startsWith('container:') ? ['--domainname', run.domainname] : []),
    ...(run.init ? ['--init'] : []),
    ...(run.privileged ? ['--privileged'] : []),
    ...(run.readOnlyRootfs ? ['--read-only'] : []),
    ...run.capAdd.flatMap((cap) => ['--cap-add', cap]),
    ...run.capDrop.flatMap((cap) => ['--cap-drop', cap]),
    ...run.securityOpt.flatMap((option) => ['--security-opt', option]),
    // No runtime recorded (a bottle from elsewhere, held): the engine's default.
    ...(skip.runtime || !run.runtime ? [] : ['--runtime', run.runtime]),
    ...(firstNetwork && !networkMode.startsWith('container:') && !['host', 'none'].includes(networkMode)
      ? ['--network', firstNetwork.network, ...firstNetwork.aliases.flatMap((alias) => ['--network-alias', alias]), ...(firstNetwork.ipv4Address ? ['--ip', firstNetwork.ipv4Address] : []), ...(firstNetwork.ipv6Address ? ['--ip6', firstNetwork.ipv6Address] : [])]
      : networkMode !== 'default' ? ['--network', networkMode] : []),
    ...(shared(run.pidMode) ? ['--pid', shared(run.pidMode)] : []),
    // private too: an engine whose default is shareable would make the bottle's IPC joinable.
    ...(shared(run.ipcMode) ? ['--ipc', shared(run.ipcMode)] : []),
    ...(run.utsMode ? ['--uts', run.utsMode] : []),
    ...(run.usernsMode ? ['--userns', run.usernsMode] : []),
    ...(run.cgroupnsMode ? ['--cgroupns', run.cgroupnsMode] : []),
    ...(r.memory ? ['--memory', String(r.memory)] : []),
    ...(r.memorySwap ? ['--memory-swap', String(r.memorySwap)] : []),
    ...(r.memoryReservation ? ['--memory-reservation', String(r.memoryReservation)] : []),
    ...(r.nanoCpus ? ['--cpus', String(r.nanoCpus / 1e9)] : []),
    ...(r.cpuShares ? ['--cpu-shares', String(r.cpuShares)] : []),
    ...(r.cpuQuota ? ['--cpu-quota', String(r.cpuQuota)] : []),
    ...(r.cpuPeriod ? ['--cpu-period', String(r.cpuPeriod)] : []),
    ...(r.cpusetCpus ? ['--cpuset-cpus', r.cpusetCpus] : []),
    ...(r.pidsLimit > 0 ? ['--pids-limit', String(r.pidsLimit)] : []),
    ...(r.shmSize ? ['--shm-size', String(r.shmSize)] : []),
    ...(r.oomKillDisable ? ['--oom-kill-disable'] : []),
    ...r.ulimits.flatMap((ulimit) => ['--ulimit', `${ulimit.name}=${ulimit.soft}:${ulimit.hard}`]),
    ...(r.cpusetMems ? ['--cpuset-mems', r.cpusetMems] : []),
    ...(r.oomScoreAdj ? ['--oom-score-adj', String(r.oomScoreAdj)] : []),
    ...(r.memorySwappiness !== undefined && r.memorySwappiness !== null ? ['--memory-swappiness', String(r.memorySwappiness)] : []),
    ...(r.blkio ? blkioFlags(r.blkio) : []),
    ...(r.storageSize ? ['--storage-opt', `size=${r.storageSize}`] : []),
    ...(run.cgroupParent ? ['--cgroup-parent', run.cgroupParent] : []),
    ...Object.entries(run.tmpfs).flatMap(([path, options]) => ['--tmpfs', options ? `${path}:${options}` : path]),
    ...run.mounts.flatMap((mount) => mountFlags(mount, skip.binds)),
    ...run.devices.filter((device) => !skip.devices?.has(device.host)).flatMap((device) => ['--device', `${device.host}:${device.container}:${device.permissions}`]),
    ...run.extraHosts.flatMap((entry) => ['--add-host', entry]),
    ...run.dns.flatMap((server) => ['--dns', server]),
    ...run.dnsSearch.flatMap((domain) => ['--dns-search', domain]),
    ...run.dnsOptions.flatMap((option) => ['--dns-option', option]),
    ...run.ports.flatMap((port) => ['--publish', `${port.hostIp ? `${port.hostIp}:` : ''}${port.hostPort}:${port.container}`]),
    ...(run.restart.name !== 'no' ? ['--restart', run.restart.name === 'on-failure' && run.restart.maxRetries ? `on-failure:${run.restart.maxRetries}` : run.restart.name] : []),
    ...Object.entries(run.sysctls).flatMap(([key, value]) => ['--sysctl', `${key}=${value}`]),
    ...run.groupAdd.flatMap((group) => ['--group-add', group]),
  ]
  // The image's own entrypoint and cmd are the recorded ones when booting a snapshot; a rebuild may differ.
  const same = (a: string[] | null, b: string[] | null) => JSON.stringify(a ?? []) === JSON.stringify(b ?? [])
  if (same(run.entrypoint, image.entrypoint) && same(run.cmd, image.cmd)) return { flags, command: [] }
  const [entrypoint = '', ...entryArgs] = run.entrypoint ?? []
  return { flags: [...flags, '--entrypoint', entrypoint], command: [...entryArgs, ...(run.cmd ?? [])] }
}

function blkioFlags(blkio: NonNullable<DockerRun['resources']['blkio']>): string[] {
  const device = (flag: string, entries: Array<{ path: string; rate: number }>) => entries.flatMap((entry) => [flag, `${entry.path}:${entry.rate}`])
  return [
    ...(blkio.weight ? ['--blkio-weight', String(blkio.weight)] : []),
    ...blkio.weightDevices.flatMap((entry) => ['--blkio-weight-device', `${entry.path}:${entry.weight}`]),
    ...device('--device-read-bps', blkio.readBps),
    ...device('--device-write-bps', blkio.writeBps),
    ...device('--device-read-iops', blkio.readIops),
    ...device('--device-write-iops', blkio.writeIops),
  ]
}

function mountFlags(mount: MountDefinition, skipBinds: Set<string> | undefined): string[] {
  if (mount.type === 'tmpfs') return ['--mount', mountValue([`type=tmpfs`, `dst=${mount.target}`, ...(mount.readOnly ? ['readonly'] : []), ...(mount.tmpfsOptions ? mount.tmpfsOptions.split(',').map((option) => option.replace(/^size=/, 'tmpfs-size=').replace(/^mode=/, 'tmpfs-mode=')) : [])])]
  if (mount.type === 'bind' && skipBinds?.has(mount.source)) return []
  // The docker CLI makes a source of "." or "./…" absolute from its own working directory.
  if (mount.type === 'bind' && !mount.source.startsWith('/')) throw new OperationError(`the bind mount at ${mount.target} has the relative host path ${JSON.stringify(mount.source)}: only an absolute one names the same directory everywhere`)
  // --mount, not -v: a bind whose host path is missing is an error instead of a new empty dir.
  const parts = [`type=${mount.type}`, `src=${mount.source}`, `dst=${mount.target}`]
  if (mount.readOnly) parts.push('readonly')
  if (mount.propagation) parts.push(`bind-propagation=${mount.propagation}`)
  return ['--mount', mountValue(parts)]
}

/**
 * How the container the engine made is weaker than the recorded run (empty: it is not). Engines
 * may drop a limit they cannot enforce with only a warning, so this is checked before it starts:
 * limits, user, capabilities, security options and the profiles the engine applied, namespaces,
 * mounts, devices and sysctls. `skip` is what the user relaxed (left out on purpose).
 */
export function weakerThanRecorded(run: SidecarRun, made: ContainerInspect, { runtimeRelaxed = false, skip = {} }: { runtimeRelaxed?: boolean; skip?: CreateInput['skip'] } = {}): Array<{ key: RelaxKey; what: string }> {
  const host = made.HostConfig
  const problems: Array<{ key: RelaxKey; what: string }> = []
  const limit = (name: string, recorded: number, actual: number | null | undefined) => {
    if (recorded > 0 && (actual ?? 0) !== recorded) problems.push({ key: 'limits', what: `${name} ${recorded} became ${actual ?? 'unlimited'} on this engine` })
  }
  const same = (name: string, recorded: string | number | null | undefined, actual: string | number | null | undefined, key: RelaxKey = 'limits') => {
    if (recorded !== undefined && recorded !== null && recorded !== '' && recorded !== 0 && recorded !== actual) problems.push({ key, what: `${name} ${recorded} became ${actual === undefined || actual === null || actual === '' ? 'unset' : actual} on this engine` })
  }
  const r = run.resources
  limit('memory', r.memory, host.Memory)
  limit('memory-swap', r.memorySwap, host.MemorySwap)
  limit('pids-limit', r.pidsLimit, host.PidsLimit)
  limit('cpus (nano)', r.nanoCpus, host.NanoCpus)
  limit('cpu-quota', r.cpuQuota, host.CpuQuota)
  limit('shm-size', r.shmSize, host.ShmSize)
  limit('memory-reservation', r.memoryReservation, host.MemoryReservation)
  limit('cpu-shares', r.cpuShares, host.CpuShares)
  limit('cpu-period', r.cpuPeriod, host.CpuPeriod)
  if (r.cpusetCpus && host.CpusetCpus !== r.cpusetCpus) problems.push({ key: 'limits', what: `cpuset-cpus ${r.cpusetCpus} became ${host.CpusetCpus || 'all'} on this engine` })
  same('cpuset-mems', r.cpusetMems, host.CpusetMems)
  same('oom-score-adj', r.oomScoreAdj, host.OomScoreAdj ?? 0)
  same('memory-swappiness', r.memorySwappiness, host.MemorySwappiness)
  same('blkio-weight', r.blkio?.weight, host.BlkioWeight ?? 0)
  same('storage size', r.storageSize, host.StorageOpt?.size)
  same('cgroup parent', run.cgroupParent, host.CgroupParent)
  // A runtime the user relaxed was left out already: the engine's default is what it runs.
  if (!runtimeRelaxed && run.runtime && (host.Runtime || 'runc') !== run.runtime) problems.push({ key: 'runtime', what: `runtime ${run.runtime} became ${host.Runtime || 'runc'}` })
  if (run.user && (made.Config.User ?? '') !== run.user) problems.push({ key: 'limits', what: `it runs as ${made.Config.User || 'root'}, not ${run.user}` })
  if (run.readOnlyRootfs && !host.ReadonlyRootfs) problems.push({ key: 'limits', what: 'the root filesystem is not read-only' })
  const caps = new Set((host.CapDrop ?? []).map(normalCap))
  for (const cap of run.capDrop) if (!caps.has(normalCap(cap))) problems.push({ key: 'limits', what: `capability ${cap} was not dropped` })
  const allowed = new Set(run.capAdd.map(normalCap))
  for (const cap of host.CapAdd ?? []) if (!allowed.has(normalCap(cap))) problems.push({ key: 'limits', what: `capability ${normalCap(cap)} was added` })
  for (const option of run.securityOpt) if (!(host.SecurityOpt ?? []).includes(option)) problems.push({ key: 'limits', what: `security option ${option.split('=')[0]} is missing` })
  if (host.Privileged && !run.privileged) problems.push({ key: 'limits', what: 'the container is privileged' })
  // The profiles the engine applied: the same AppArmor profile, an SELinux label of the same type,
  // and /proc and /sys masked and read-only where they were. Which paths an engine masks by default
  // differs between its versions (29 masks more than 20.10); what no engine does unasked is mask
  // none (privileged, or systempaths=unconfined, both compared above).
  if (run.apparmorProfile && run.apparmorProfile !== 'unconfined' && made.AppArmorProfile !== run.apparmorProfile) problems.push({ key: 'apparmor', what: `AppArmor profile ${run.apparmorProfile} became ${made.AppArmorProfile || 'none'}` })
  const labelType = (label: string | undefined) => (label ?? '').split(':')[2] ?? ''
  if (run.selinuxLabel && labelType(made.ProcessLabel) !== labelType(run.selinuxLabel)) problems.push({ key: 'selinux', what: `SELinux type ${labelType(run.selinuxLabel)} became ${labelType(made.ProcessLabel) || 'none'}` })
  if ((run.maskedPaths ?? []).length > 0 && (host.MaskedPaths ?? []).length === 0) problems.push({ key: 'limits', what: 'no path of /proc and /sys is masked' })
  if ((run.readonlyPaths ?? []).length > 0 && (host.ReadonlyPaths ?? []).length === 0) problems.push({ key: 'limits', what: 'no path of /proc and /sys is read-only' })
  const joined = new Set(Object.keys(made.NetworkSettings.Networks ?? {}))
  if (run.networks[0] && !joined.has(run.networks[0].network) && !run.networkMode.startsWith('container:')) problems.push({ key: 'networks', what: `not on network ${run.networks[0].network}` })
  problems.push(...namespaceProblems(run, made, skip), ...mountProblems(run, made, skip), ...deviceProblems(run, made, skip), ...sysctlProblems(run, made))
  return problems
}

/** Host namespaces and namespaces shared with other containers: as recorded, or the engine's own. */
function namespaceProblems(run: SidecarRun, made: ContainerInspect, skip: CreateInput['skip']): Array<{ key: RelaxKey; what: string }> {
  const host = made.HostConfig
  const problems: Array<{ key: RelaxKey; what: string }> = []
  // A network's name is not a namespace of its own: only host, none and container: modes are compared.
  const special = (mode: string | undefined) => mode === 'host' || mode === 'none' || Boolean(mode?.startsWith('container:'))
  const sameMode = (recorded: string, actual: string | undefined) => recorded === (actual ?? '') || (recorded.startsWith('container:') && actual?.startsWith('container:'))
  if (!skip.networkMode && (special(run.networkMode) || special(host.NetworkMode)) && !sameMode(run.networkMode, host.NetworkMode)) {
    problems.push({ key: 'network-mode', what: `network mode ${run.networkMode} became ${host.NetworkMode || 'default'}` })
  }
  const modes: Array<[string, string, string | undefined]> = [
    ['pid', run.pidMode, host.PidMode],
    ['ipc', run.ipcMode, host.IpcMode],
    ['uts', run.utsMode, host.UTSMode],
    ['userns', run.usernsMode, host.UsernsMode],
    ['cgroupns', run.cgroupnsMode, host.CgroupnsMode],
  ]
  for (const [name, recorded, actual] of modes) {
    if (skip.networkMode && recorded.startsWith('container:')) continue
    // An engine default (empty) may read back as its name (private); host and container: must match.
    if ((recorded === 'host' || actual === 'host' || recorded.startsWith('container:') || actual?.startsWith('container:')) && !sameMode(recorded, actual)) {
      problems.push({ key: 'limits', what: `${name} namespace ${recorded || 'private'} became ${actual || 'private'}` })
    }
  }
  return problems
}

/** Every recorded mount where it was, from the same source, read-only where it was; no bind of a host path that was not there. */
function mountProblems(run: SidecarRun, made: ContainerInspect, skip: CreateInput['skip']): Array<{ key: RelaxKey; what: string }> {
  const problems: Array<{ key: RelaxKey; what: string }> = []
  const mounts = new Map((made.Mounts ?? []).map((mount) => [mount.Destination, mount]))
  for (const recorded of run.mounts) {
    if (recorded.type === 'tmpfs') continue
    if (recorded.type === 'bind' && skip.binds?.has(recorded.source)) continue
    const mount = mounts.get(recorded.target)
    const source = mount ? (mount.Type === 'volume' ? mount.Name : mount.Source) : undefined
    if (!mount || mount.Type !== recorded.type || (!recorded.anonymous && source !== recorded.source)) {
      problems.push({ key: recorded.type === 'bind' ? 'binds' : 'volumes', what: `${recorded.type} ${recorded.source} is not mounted at ${recorded.target}` })
      continue
    }
    if (recorded.readOnly && mount.RW !== false) problems.push({ key: 'limits', what: `${recorded.target} is not read-only` })
    if (recorded.propagation && mount.Propagation !== recorded.propagation) problems.push({ key: 'binds', what: `${recorded.target} has propagation ${mount.Propagation || 'none'}, not ${recorded.propagation}` })
  }
  const recordedBinds = new Set(run.mounts.filter((mount) => mount.type === 'bind').map((mount) => mount.target))
  for (const mount of made.Mounts ?? []) if (mount.Type === 'bind' && !recordedBinds.has(mount.Destination)) problems.push({ key: 'binds', what: `host path ${mount.Source} is mounted at ${mount.Destination}, which it was not` })
  return problems
}

/** The recorded devices and no others. */
function deviceProblems(run: SidecarRun, made: ContainerInspect, skip: CreateInput['skip']): Array<{ key: RelaxKey; what: string }> {
  const problems: Array<{ key: RelaxKey; what: string }> = []
  const devices = new Set((made.HostConfig.Devices ?? []).map((device) => `${device.PathOnHost}:${device.PathInContainer}`))
  const recorded = new Set(run.devices.map((device) => `${device.host}:${device.container}`))
  for (const device of run.devices) if (!skip.devices?.has(device.host) && !devices.has(`${device.host}:${device.container}`)) problems.push({ key: 'devices', what: `device ${device.host} is not at ${device.container}` })
  for (const device of devices) if (!recorded.has(device)) problems.push({ key: 'devices', what: `device ${device.split(':')[0]} was added` })
  return problems
}

/** The recorded sysctls with their values, and no others. */
function sysctlProblems(run: SidecarRun, made: ContainerInspect): Array<{ key: RelaxKey; what: string }> {
  const problems: Array<{ key: RelaxKey; what: string }> = []
  const sysctls = made.HostConfig.Sysctls ?? {}
  for (const [name, value] of Object.entries(run.sysctls)) if (sysctls[name] !== value) problems.push({ key: 'limits', what: `sysctl ${name}=${value} became ${sysctls[name] ?? 'unset'}` })
  for (const name of Object.keys(sysctls)) if (!(name in run.sysctls)) problems.push({ key: 'limits', what: `sysctl ${name}=${sysctls[name]} was added` })
  return problems
}

const normalCap = (cap: string) => cap.toUpperCase().replace(/^CAP_/, '')
