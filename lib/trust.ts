// A bottle from elsewhere (a bundle file, a registry) is untrusted: it gets what a default sandbox
// gets, and every request above that baseline only when the user allows it by name (`import
// --allow KEY`), trusts the bottle (`--trust`), or trusts its signer. A bottle committed here is
// the user's own and comes back as it ran. This file says what a run or a compose file asks for
// above the baseline, one request per key, and what is left of a run when only some are allowed.
import { parse as parseYaml } from 'yaml'
import type { BackendRun, DockerRun, SidecarRun } from './run-config.ts'

/** One thing a bottle asks for above a default sandbox: `bind:/etc`, `egress/cap-add:NET_ADMIN`. */
export interface Request {
  key: string
  /** In words, for the listing. */
  what: string
}

/** The capabilities a docker container has by default: adding one of them asks for nothing. */
const DEFAULT_CAPS = new Set(['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE'])
const normalCap = (cap: string) => cap.toUpperCase().replace(/^CAP_/, '')

/** A security option that loosens the sandbox, as its key (`seccomp=unconfined`), or undefined for one that does not. */
export function looseningOption(option: string): string | undefined {
  const [name = '', value = ''] = option.split(/[=:]/, 2).map((part) => part.trim())
  if (name === 'seccomp') return value === 'unconfined' ? 'seccomp=unconfined' : 'seccomp=custom'
  if (name === 'apparmor' && value === 'unconfined') return 'apparmor=unconfined'
  if (name === 'label' && value === 'disable') return 'label=disable'
  if (name === 'systempaths' && value === 'unconfined') return 'systempaths=unconfined'
  if (name === 'no-new-privileges' && value === 'false') return 'no-new-privileges=false'
  return undefined
}

const HOST_NAMESPACES = ['network', 'pid', 'ipc', 'uts', 'userns', 'cgroupns'] as const

/** The engine turns SELinux labels off itself for a container with the host's pid or ipc namespace, or privileged: part of those requests. */
const labelsOffWith = (run: Pick<SidecarRun, 'pidMode' | 'ipcMode' | 'privileged'>) => run.pidMode === 'host' || run.ipcMode === 'host' || run.privileged

/** What a docker run asks for above the baseline. `prefix` names a compose service (`egress/`). */
export function dockerRequests(run: SidecarRun, prefix = ''): Request[] {
  const requests: Request[] = []
  const add = (key: string, what: string) => requests.push({ key: `${prefix}${key}`, what })
  if (run.privileged) add('privileged', 'runs privileged: every capability and device of the host')
  for (const cap of new Set(run.capAdd.map(normalCap))) if (!DEFAULT_CAPS.has(cap)) add(`cap-add:${cap}`, `adds the capability ${cap}`)
  const modes: Record<(typeof HOST_NAMESPACES)[number], string> = { network: run.networkMode, pid: run.pidMode, ipc: run.ipcMode, uts: run.utsMode, userns: run.usernsMode, cgroupns: run.cgroupnsMode }
  // With cgroup v1 an engine shares the host's cgroup namespace by default (docker 20.10 records
  // "host" for it): asked for only where the default was a private one (cgroup v2). Held, it is a
  // private one either way.
  const cgroupV2 = 'platform' in run && (run as DockerRun).platform?.cgroupVersion === '2'
  for (const namespace of HOST_NAMESPACES) {
    const mode = modes[namespace]
    if (namespace === 'cgroupns' && mode === 'host' && !cgroupV2) continue
    if (mode === 'host') add(`${namespace}:host`, `shares the host's ${namespace} namespace`)
    else if (mode.startsWith('container:')) add(`${namespace}:${mode}`, `joins the ${namespace} namespace of container ${mode.slice('container:'.length)}`)
  }
  for (const option of run.securityOpt) {
    const loose = looseningOption(option)
    if (loose && !(loose === 'label=disable' && labelsOffWith(run))) add(`security-opt:${loose}`, `loosens its security: ${loose}`)
  }
  for (const device of run.devices) add(`device:${device.host}`, `gets the host's device ${device.host}`)
  for (const mount of run.mounts) if (mount.type === 'bind') add(`bind:${mount.source}`, `mounts the host's ${mount.source} at ${mount.target}${mount.readOnly ? ' (read-only)' : ''}`)
  for (const name of Object.keys(run.sysctls)) add(`sysctl:${name}`, `sets the kernel parameter ${name}`)
  for (const port of run.ports) add(`port:${port.hostIp || '0.0.0.0'}:${port.hostPort}`, `listens on the host's ${port.hostIp || '0.0.0.0'}:${port.hostPort}`)
  for (const name of run.secretEnv) add(`env:${name}`, `gets this host's value of ${name}`)
  for (const mount of run.mounts) if (mount.type === 'volume' && mount.driver && mount.driver !== 'local') add(`volume:${mount.source}`, `uses the volume ${mount.source} of driver ${mount.driver}`)
  if (run.cgroupParent) add(`cgroup-parent:${run.cgroupParent}`, `runs under the host's cgroup ${run.cgroupParent}`)
  // A runtime is a name this host's engine configures as it likes (one may be less confining than
  // its default); runc, every engine's, asks for nothing. Held, a bottle runs on this engine's default.
  if (run.runtime && run.runtime !== 'runc') add(`runtime:${run.runtime}`, `runs on the runtime ${run.runtime} (as this host's engine configures it)`)
  return requests
}

/** Bridge options that only narrow what a network does; any other option (a host bridge's name, a parent interface) reaches the host. */
const PLAIN_NETWORK_OPTIONS = new Set(['com.docker.network.bridge.enable_icc', 'com.docker.network.bridge.enable_ip_masquerade', 'com.docker.network.driver.mtu', 'com.docker.network.enable_ipv6'])

/** A recorded network that is more than a bridge of its own: another driver (macvlan, host…) or options that reach the host. */
export function networkReachesHost(network: { driver: string; options: Record<string, string> }): boolean {
  return !['bridge', ''].includes(network.driver) || Object.keys(network.options).some((option) => !PLAIN_NETWORK_OPTIONS.has(option))
}

/** Networks of a docker run that ask for more than a bridge of their own. */
function networkRequests(run: DockerRun): Request[] {
  return run.networkDefinitions
    .filter(networkReachesHost)
    .map((network) => ({ key: `network:${network.name}`, what: `makes or joins the network ${network.name} (driver ${network.driver}${Object.keys(network.options).length ? `, ${Object.entries(network.options).map(([key, value]) => `${key}=${value}`).join(', ')}` : ''})` }))
}

/** What any backend's run asks for above the baseline. */
export function runRequests(run: BackendRun): Request[] {
  // A compose bottle's services (the agent too) run as its compose file says: composeRequests asks
  // for them, prefixed by service. Its records are only what the made containers are checked against.
  if (run.backend === 'docker') return run.compose ? networkRequests(run) : [...dockerRequests(run), ...networkRequests(run)]
  const requests: Request[] = []
  if (run.backend === 'macos-container') {
    for (const mount of run.mounts) requests.push({ key: `bind:${mount.source}`, what: `mounts the host's ${mount.source} at ${mount.target}${mount.readOnly ? ' (read-only)' : ''}` })
    // Apple's networks and volumes carry no owner: any but the default is one of this host's.
    for (const network of run.networks) if (network !== 'default' && network !== 'none') requests.push({ key: `network:${network}`, what: `joins this host's network ${network}` })
    for (const volume of run.volumes) requests.push({ key: `volume:${volume.name}`, what: `mounts the volume ${volume.name} at ${volume.target}` })
    for (const name of run.envNames) requests.push({ key: `env:${name}`, what: `gets this host's value of ${name}` })
    return requests
  }
  for (const volume of run.volumes) requests.push({ key: `bind:${volume.host}`, what: `mounts the host's ${volume.host} at ${volume.guest}${volume.readOnly ? ' (read-only)' : ''}` })
  for (const port of run.ports) requests.push({ key: `port:0.0.0.0:${port.split(':')[0]}`, what: `listens on the host's port ${port.split(':')[0]}` })
  // smolvm gives a VM no network unless asked (`--net`).
  if (run.network) requests.push({ key: 'network:egress', what: 'has a network (smolvm --net)' })
  for (const name of run.envNames) requests.push({ key: `env:${name}`, what: `gets this host's value of ${name}` })
  return requests
}

/**
 * Service keys of a compose file that this file reads and holds to the baseline (asked for by key
 * below), or that cannot reach beyond the bottle. Any other key is refused for a bottle from
 * elsewhere unless it is trusted: what this tool does not read it cannot hold to a default sandbox.
 */
const PLAIN_SERVICE_KEYS = new Set([
  'image', 'command', 'entrypoint', 'environment', 'working_dir', 'user', 'hostname', 'domainname', 'networks', 'volumes', 'cap_add', 'cap_drop',
  'security_opt', 'privileged', 'network_mode', 'pid', 'ipc', 'uts', 'userns_mode', 'cgroup', 'devices', 'sysctls', 'ports', 'expose', 'labels',
  'restart', 'healthcheck', 'depends_on', 'read_only', 'tmpfs', 'mem_limit', 'memswap_limit', 'mem_reservation', 'mem_swappiness', 'cpus', 'cpu_shares',
  'cpu_quota', 'cpu_period', 'cpuset', 'pids_limit', 'ulimits', 'init', 'stop_signal', 'stop_grace_period', 'dns', 'dns_search', 'dns_opt', 'extra_hosts',
  'shm_size', 'stdin_open', 'tty', 'platform', 'pull_policy', 'runtime', 'container_name', 'group_add', 'oom_score_adj', 'secrets', 'configs', 'links',
  'mac_address', 'annotations', 'profiles', 'scale', 'attach', 'storage_opt', 'blkio_config', 'oom_kill_disable',
])
const PLAIN_TOP_KEYS = new Set(['services', 'networks', 'volumes', 'secrets', 'configs', 'name', 'version'])

/**
 * What a compose file asks for above the baseline, per service, and what in it cannot be held to
 * a baseline at all (refused unless the bottle is trusted): a build (it runs the file's commands on
 * this host's engine), env_file and other keys that read files of this host, an interpolation
 * (`${VAR}`, it reads this host's environment), external volumes and networks (another project's),
 * volumes and networks with a driver or its options (a host path, a host interface), and any key
 * this file does not read.
 */
export function composeRequests(text: string, own = ''): { requests: Request[]; untrustable: string[] } {
  const requests: Request[] = []
  const untrustable: string[] = []
  // `$$` is a literal dollar; any other `$NAME` or `${…}` is the host's environment.
  const interpolated = [...text.replaceAll('$$', '').matchAll(/\$(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)/g)].map((match) => match[0])
  if (interpolated.length > 0) untrustable.push(`interpolates this host's environment (${[...new Set(interpolated)].slice(0, 3).join(', ')})`)
  let file: Record<string, unknown>
  try {
    file = (parseYaml(text, { maxAliasCount: 100 }) ?? {}) as Record<string, unknown>
  } catch (error) {
    return { requests, untrustable: [...untrustable, `is not YAML this tool can read (${(error as Error).message.split('\n')[0]})`] }
  }
  if (typeof file !== 'object' || Array.isArray(file)) return { requests, untrustable: [...untrustable, 'is not a compose file (not a mapping)'] }
  for (const key of Object.keys(file)) if (!PLAIN_TOP_KEYS.has(key) && !key.startsWith('x-')) untrustable.push(`uses ${key}: (not held to a default sandbox here)`)
  const services = (file.services ?? {}) as Record<string, Record<string, unknown>>
  for (const [name, service] of Object.entries(services)) {
    if (!service || typeof service !== 'object') continue
    const add = (key: string, what: string) => requests.push({ key: `${name}/${key}`, what: `${name} ${what}` })
    for (const key of Object.keys(service)) {
      if (key === 'build') untrustable.push(`service ${name} is built here (build:)`)
      else if (key === 'env_file') untrustable.push(`service ${name} reads files of this host into its environment (env_file:)`)
      else if (!PLAIN_SERVICE_KEYS.has(key) && !key.startsWith('x-')) untrustable.push(`service ${name} uses ${key}: (not held to a default sandbox here)`)
    }
    if (service.privileged === true) add('privileged', 'runs privileged: every capability and device of the host')
    for (const cap of strings(service.cap_add)) if (!DEFAULT_CAPS.has(normalCap(cap))) add(`cap-add:${normalCap(cap)}`, `adds the capability ${normalCap(cap)}`)
    const namespaces: Array<[string, unknown]> = [['network', service.network_mode], ['pid', service.pid], ['ipc', service.ipc], ['uts', service.uts], ['userns', service.userns_mode], ['cgroupns', service.cgroup]]
    for (const [namespace, mode] of namespaces) {
      if (mode === 'host') add(`${namespace}:host`, `shares the host's ${namespace} namespace`)
      else if (typeof mode === 'string' && mode.startsWith('container:')) add(`${namespace}:${mode}`, `joins the ${namespace} namespace of container ${mode.slice('container:'.length)}`)
    }
    for (const option of strings(service.security_opt)) {
      const loose = looseningOption(option)
      if (loose) add(`security-opt:${loose}`, `loosens its security: ${loose}`)
    }
    for (const device of list(service.devices)) {
      const host = typeof device === 'string' ? device.split(':')[0]! : String((device as { source?: unknown }).source ?? '')
      add(`device:${host}`, `gets the host's device ${host}`)
    }
    for (const volume of list(service.volumes)) {
      const bind = bindSource(volume)
      if (bind) add(`bind:${bind}`, `mounts the host's ${bind}`)
    }
    const sysctls = service.sysctls
    for (const sysctl of Array.isArray(sysctls) ? sysctls.map((entry) => String(entry).split('=')[0]!) : Object.keys((sysctls ?? {}) as object)) add(`sysctl:${sysctl}`, `sets the kernel parameter ${sysctl}`)
    for (const port of list(service.ports)) {
      const published = publishedPort(port)
      if (published) add(`port:${published}`, `listens on the host's ${published}`)
    }
    for (const variable of passedThrough(service.environment)) add(`env:${variable}`, `gets this host's value of ${variable}`)
    // Named in the file, it replaces this engine's default runtime (runc too: the default may be another).
    if (typeof service.runtime === 'string') add(`runtime:${service.runtime}`, `runs on the runtime ${service.runtime} (as this host's engine configures it)`)
  }
  // An external volume or network named after the bottle (bot-bottle-<slug>-…) is its own: boot
  // makes it, or finds it labelled as the bottle's.
  const isOwn = (name: string, entry: Record<string, unknown>) => own !== '' && String(entry.name ?? name).startsWith(`${own}-`)
  for (const [name, volume] of Object.entries((file.volumes ?? {}) as Record<string, Record<string, unknown> | null>)) {
    if (volume?.external && !isOwn(name, volume)) untrustable.push(`volume ${name} is external (another project's data)`)
    else if (volume?.driver || volume?.driver_opts) untrustable.push(`volume ${name} has a driver or driver options (they can name a host path)`)
  }
  for (const [name, network] of Object.entries((file.networks ?? {}) as Record<string, Record<string, unknown> | null>)) {
    if (network?.external && !isOwn(name, network)) untrustable.push(`network ${name} is external (one of this host's)`)
    else if ((network?.driver && network.driver !== 'bridge') || network?.driver_opts) untrustable.push(`network ${name} has a driver or driver options (they can reach the host's interfaces)`)
  }
  for (const kind of ['secrets', 'configs'] as const) {
    for (const [name, entry] of Object.entries((file[kind] ?? {}) as Record<string, { file?: unknown; environment?: unknown } | null>)) {
      if (typeof entry?.file === 'string') requests.push({ key: `bind:${entry.file}`, what: `reads the host's ${entry.file} (${kind} ${name})` })
      if (typeof entry?.environment === 'string') requests.push({ key: `env:${entry.environment}`, what: `gets this host's value of ${entry.environment} (${kind} ${name})` })
    }
  }
  return { requests, untrustable }
}

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : [])
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : typeof value === 'string' ? [value] : [])

/** The host path of a compose volume entry that binds one (`/a:/b`, `./a:/b`, `~/a:/b`, `{type: bind, source}`). */
function bindSource(volume: unknown): string | undefined {
  if (typeof volume === 'string') {
    const source = volume.split(':')[0]!
    return /^[./~]/.test(source) && volume.includes(':') ? source : undefined
  }
  const entry = volume as { type?: unknown; source?: unknown }
  return entry.type === 'bind' && typeof entry.source === 'string' ? entry.source : undefined
}

/** `IP:PORT` a compose port entry publishes on the host, or undefined for one that publishes none. */
function publishedPort(port: unknown): string | undefined {
  if (typeof port === 'number') return undefined
  if (typeof port === 'string') {
    const parts = port.split(':')
    if (parts.length < 2) return undefined
    const host = parts.length === 3 ? `${parts[0]}:${parts[1]}` : `0.0.0.0:${parts[0]}`
    return host
  }
  const entry = port as { published?: unknown; host_ip?: unknown }
  return entry.published === undefined ? undefined : `${typeof entry.host_ip === 'string' ? entry.host_ip : '0.0.0.0'}:${String(entry.published)}`
}

/** Variables a compose `environment:` takes from the host: named without a value. */
function passedThrough(environment: unknown): string[] {
  if (Array.isArray(environment)) return environment.map(String).filter((entry) => !entry.includes('='))
  if (environment && typeof environment === 'object') return Object.entries(environment).filter(([, value]) => value === null || value === undefined).map(([name]) => name)
  return []
}

/**
 * Everything a bottle asks for above the baseline: its run's requests and its files' (a compose
 * file's), and what it has that cannot be held to a baseline at all (refused unless trusted).
 */
export function bottleRequests(run: BackendRun | undefined, files: Array<{ name: string; text: string }>, slug: string): { requests: Request[]; untrustable: string[] } {
  const fromFiles = fileRequests(run, files, slug)
  const requests = [...(run ? runRequests(run) : []), ...fromFiles.requests]
  // One line per key: the same bind asked by two services is two keys; the same key twice is one.
  return { requests: [...new Map(requests.map((request) => [request.key, request])).values()], untrustable: fromFiles.untrustable }
}

/**
 * What the state files ask for (a compose file makes every service of a compose bottle: the run
 * record cannot hold them), and what cannot be held: a Dockerfile (a rebuild runs its commands
 * here), a compose project that is not the bottle's own.
 */
export function fileRequests(run: BackendRun | undefined, files: Array<{ name: string; text: string }>, slug: string): { requests: Request[]; untrustable: string[] } {
  const own = `bot-bottle-${slug}`
  const requests: Request[] = []
  const untrustable: string[] = []
  for (const file of files) {
    if (file.name === 'Dockerfile') untrustable.push('per-bottle Dockerfile (a rebuild runs its commands on this host)')
    if (file.name !== 'docker-compose.yml') continue
    const compose = composeRequests(file.text, own)
    requests.push(...compose.requests)
    untrustable.push(...compose.untrustable.map((what) => `compose file, which ${what}`))
  }
  if (run?.backend === 'docker' && run.compose && run.compose.project !== own) untrustable.push(`compose project ${run.compose.project} (not ${own}, the bottle's own)`)
  return { requests, untrustable }
}

/** The requests of `requests` that `allowed` does not name. */
export function notAllowed(requests: Request[], allowed: ReadonlySet<string>): Request[] {
  return requests.filter((request) => !allowed.has(request.key))
}

/**
 * A run held to the baseline and its allowances: every request not allowed is left out (each of
 * them loosens the sandbox, so leaving it out only confines more), and named in `leftOut`.
 */
export function allowedRun<R extends BackendRun>(run: R, allowed: ReadonlySet<string>): { run: R; leftOut: Request[] } {
  const leftOut = notAllowed(runRequests(run), allowed)
  // Docker's is held even with nothing left out: a host cgroup namespace that was the default where
  // it ran (cgroup v1) becomes a private one, and the runtime it names (runc too) this engine's default.
  if (leftOut.length === 0 && run.backend !== 'docker') return { run, leftOut }
  const ok = (key: string) => allowed.has(key)
  if (run.backend === 'docker') {
    // A network that reaches the host is made a bridge of its own (internal stays internal).
    const networkDefinitions = run.networkDefinitions.map((network) => (networkReachesHost(network) && !ok(`network:${network.name}`) ? { ...network, driver: 'bridge', options: {} } : network))
    // A compose bottle's agent is made by compose from its file (held by composeRequests): its
    // record keeps the cgroup namespace the engine gives by default.
    return { run: { ...holdDocker(run, allowed), networkDefinitions, ...(run.compose ? { cgroupnsMode: run.cgroupnsMode } : {}) } as R, leftOut }
  }
  if (run.backend === 'macos-container') {
    const networks = run.networks.filter((network) => network === 'default' || network === 'none' || ok(`network:${network}`))
    return { run: { ...run, networks: networks.length ? networks : ['none'], mounts: run.mounts.filter((mount) => ok(`bind:${mount.source}`)), volumes: run.volumes.filter((volume) => ok(`volume:${volume.name}`)), envNames: run.envNames.filter((name) => ok(`env:${name}`)) }, leftOut }
  }
  return { run: { ...run, network: run.network && ok('network:egress'), volumes: run.volumes.filter((volume) => ok(`bind:${volume.host}`)), ports: run.ports.filter((port) => ok(`port:0.0.0.0:${port.split(':')[0]}`)), envNames: run.envNames.filter((name) => ok(`env:${name}`)) }, leftOut }
}

function holdDocker<R extends SidecarRun>(run: R, allowed: ReadonlySet<string>): R {
  const ok = (key: string) => allowed.has(key)
  const mode = (namespace: string, value: string) => (value === 'host' || value.startsWith('container:') ? (ok(`${namespace}:${value}`) ? value : '') : value)
  const secretEnv = run.secretEnv.filter((name) => ok(`env:${name}`))
  const privileged = run.privileged && ok('privileged')
  const [pidMode, ipcMode] = [mode('pid', run.pidMode), mode('ipc', run.ipcMode)]
  const keeps = (option: string) => {
    const loose = looseningOption(option)
    return !loose || ok(`security-opt:${loose}`) || (loose === 'label=disable' && labelsOffWith({ pidMode, ipcMode, privileged }))
  }
  return {
    ...run,
    privileged,
    capAdd: run.capAdd.filter((cap) => DEFAULT_CAPS.has(normalCap(cap)) || ok(`cap-add:${normalCap(cap)}`)),
    networkMode: mode('network', run.networkMode) || 'default',
    pidMode,
    ipcMode,
    utsMode: mode('uts', run.utsMode),
    usernsMode: mode('userns', run.usernsMode),
    // Not the engine's default (host, with cgroup v1): a private one on every engine.
    cgroupnsMode: mode('cgroupns', run.cgroupnsMode) || (run.cgroupnsMode === 'host' ? 'private' : ''),
    securityOpt: run.securityOpt.filter(keeps),
    devices: run.devices.filter((device) => ok(`device:${device.host}`)),
    sysctls: Object.fromEntries(Object.entries(run.sysctls).filter(([name]) => ok(`sysctl:${name}`))),
    mounts: run.mounts.filter((mount) => (mount.type === 'bind' ? ok(`bind:${mount.source}`) : mount.type !== 'volume' || !mount.driver || mount.driver === 'local' || ok(`volume:${mount.source}`))),
    ...(run.cgroupParent && !ok(`cgroup-parent:${run.cgroupParent}`) ? { cgroupParent: '' } : {}),
    // '': no --runtime, the engine's default.
    runtime: ok(`runtime:${run.runtime}`) ? run.runtime : '',
    ports: run.ports.filter((port) => ok(`port:${port.hostIp || '0.0.0.0'}:${port.hostPort}`)),
    secretEnv,
    // A credential not allowed is not asked of the host: its name goes from the environment too.
    env: run.env.filter((entry) => !run.secretEnv.includes(entry.split('=', 1)[0]!) || secretEnv.includes(entry.split('=', 1)[0]!)),
  }
}

