// The docker backend's run configuration: read from `docker inspect` at commit, turned back into
// `docker create` flags on resume, and compared with what the engine actually made before anything
// starts (an engine may drop a limit with only a warning).
import { COMPOSE_LABELS } from '../names.ts'
import type { DockerRun, MountDefinition, NetworkDefinition, RelaxKey } from '../run-config.ts'
import type { ContainerInspect, NetworkInspect } from './docker-inspect.ts'

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
  const mounts: MountDefinition[] = (container.Mounts ?? [])
    .filter((mount) => mount.Type === 'volume' || mount.Type === 'bind')
    .map((mount) => ({
      type: mount.Type as 'volume' | 'bind',
      source: (mount.Type === 'volume' ? mount.Name : mount.Source) ?? '',
      target: mount.Destination,
      readOnly: mount.RW === false,
      ...(mount.Type === 'volume' ? { anonymous: /^[0-9a-f]{64}$/.test(mount.Name ?? ''), driver: mount.Driver || 'local' } : {}),
      ...(mount.Type === 'bind' && mount.Propagation ? { propagation: mount.Propagation } : {}),
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
    },
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
    ...(skip.runtime ? [] : ['--runtime', run.runtime]),
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

function mountFlags(mount: MountDefinition, skipBinds: Set<string> | undefined): string[] {
  if (mount.type === 'tmpfs') return ['--mount', [`type=tmpfs`, `dst=${mount.target}`, ...(mount.readOnly ? ['readonly'] : []), ...(mount.tmpfsOptions ? mount.tmpfsOptions.split(',').map((option) => option.replace(/^size=/, 'tmpfs-size=').replace(/^mode=/, 'tmpfs-mode=')) : [])].join(',')]
  if (mount.type === 'bind' && skipBinds?.has(mount.source)) return []
  // --mount, not -v: a bind whose host path is missing is an error instead of a new empty dir.
  const parts = [`type=${mount.type}`, `src=${mount.source}`, `dst=${mount.target}`]
  if (mount.readOnly) parts.push('readonly')
  if (mount.propagation) parts.push(`bind-propagation=${mount.propagation}`)
  return ['--mount', parts.join(',')]
}

/**
 * How the container the engine made is weaker than the recorded run (empty: it is not). Engines
 * may drop a limit they cannot enforce with only a warning, so this is checked before it starts.
 */
export function weakerThanRecorded(run: DockerRun, made: ContainerInspect, { runtimeRelaxed = false } = {}): Array<{ key: RelaxKey; what: string }> {
  const host = made.HostConfig
  const problems: Array<{ key: RelaxKey; what: string }> = []
  const limit = (name: string, recorded: number, actual: number | null | undefined) => {
    if (recorded > 0 && (actual ?? 0) !== recorded) problems.push({ key: 'limits', what: `${name} ${recorded} became ${actual ?? 'unlimited'} on this engine` })
  }
  limit('memory', run.resources.memory, host.Memory)
  limit('memory-swap', run.resources.memorySwap, host.MemorySwap)
  limit('pids-limit', run.resources.pidsLimit, host.PidsLimit)
  limit('cpus (nano)', run.resources.nanoCpus, host.NanoCpus)
  limit('cpu-quota', run.resources.cpuQuota, host.CpuQuota)
  limit('shm-size', run.resources.shmSize, host.ShmSize)
  limit('memory-reservation', run.resources.memoryReservation, host.MemoryReservation)
  limit('cpu-shares', run.resources.cpuShares, host.CpuShares)
  limit('cpu-period', run.resources.cpuPeriod, host.CpuPeriod)
  if (run.resources.cpusetCpus && host.CpusetCpus !== run.resources.cpusetCpus) problems.push({ key: 'limits', what: `cpuset-cpus ${run.resources.cpusetCpus} became ${host.CpusetCpus || 'all'} on this engine` })
  // A runtime the user relaxed was left out already: the engine's default is what it runs.
  if (!runtimeRelaxed && (host.Runtime || 'runc') !== run.runtime) problems.push({ key: 'runtime', what: `runtime ${run.runtime} became ${host.Runtime || 'runc'}` })
  if (run.user && (made.Config.User ?? '') !== run.user) problems.push({ key: 'limits', what: `it runs as ${made.Config.User || 'root'}, not ${run.user}` })
  if (run.readOnlyRootfs && !host.ReadonlyRootfs) problems.push({ key: 'limits', what: 'the root filesystem is not read-only' })
  const caps = new Set((host.CapDrop ?? []).map(normalCap))
  for (const cap of run.capDrop) if (!caps.has(normalCap(cap))) problems.push({ key: 'limits', what: `capability ${cap} was not dropped` })
  const allowed = new Set(run.capAdd.map(normalCap))
  for (const cap of host.CapAdd ?? []) if (!allowed.has(normalCap(cap))) problems.push({ key: 'limits', what: `capability ${normalCap(cap)} was added` })
  for (const option of run.securityOpt) if (!(host.SecurityOpt ?? []).includes(option)) problems.push({ key: 'limits', what: `security option ${option.split('=')[0]} is missing` })
  if (host.Privileged && !run.privileged) problems.push({ key: 'limits', what: 'the container is privileged' })
  const joined = new Set(Object.keys(made.NetworkSettings.Networks ?? {}))
  if (run.networks[0] && !joined.has(run.networks[0].network) && !run.networkMode.startsWith('container:')) problems.push({ key: 'networks', what: `not on network ${run.networks[0].network}` })
  return problems
}

const normalCap = (cap: string) => cap.toUpperCase().replace(/^CAP_/, '')
