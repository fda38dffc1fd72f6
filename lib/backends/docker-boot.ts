// Booting a docker bottle as it ran: networks made again from their recorded definitions, volumes
// checked, `docker create` with the recorded flags, the container checked against the record before
// it starts, then the other networks and start. Anything confining that cannot be reproduced is a
// refusal (Unreproducible) unless the user relaxed it; nothing runs before the checks pass.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { registerCleanup } from '../cleanup.ts'
import * as docker from '../docker.ts'
import { tempDirsArchive } from '../tar.ts'
import { makeWorkDir } from '../workdir.ts'
import { COMPOSE_LABELS, LABELS } from '../names.ts'
import { OperationError, ToolError } from '../errors.ts'
import type { DockerRun, NetworkDefinition, RelaxKey, Relaxing } from '../run-config.ts'
import type { Held } from './types.ts'
import { relaxOrRefuse } from '../run-config.ts'
import { containerInspectSchema, networkInspectSchema } from './docker-inspect.ts'
import { createArgs, networkCreateFlags, networkShortfalls, weakerThanRecorded, type CreateInput } from './docker-run.ts'

export interface BootPlan extends Relaxing {
  name: string
  image: string
  labels: Record<string, string>
  run: DockerRun
  envFromHost: string[]
  imageConfig: { entrypoint: string[] | null; cmd: string[] | null }
  /** The image says (in its run-config label) that it has /tmp and /var/tmp at 1777. */
  imageTempDirsReady: boolean
  /**
   * What this boot made besides the container (networks, relaxed volumes): each is removed again
   * when the boot is refused or fails, so a refusal leaves nothing behind. `keepMade` keeps them.
   */
  made: Array<() => void>
  /** A bottle from elsewhere, not trusted: only its own volumes and networks (BootOptions.held). */
  held?: Held
}

/** Whether an engine object's labels say it is the held bottle's own (made for it by import or boot, or by compose for its project). */
const isOwn = (labels: Record<string, string> | null | undefined, held: Held) => labels?.[LABELS.slug] === held.owner || labels?.[COMPOSE_LABELS.project] === `bot-bottle-${held.owner}`
/** Labels a boot puts on what it makes for a held bottle, so that its next boot finds them its own. */
const ownLabels = (held: Held | undefined): Record<string, string> => (held ? { [LABELS.slug]: held.owner } : {})

/** Something a boot made: removed again unless the boot succeeds (keepMade). */
function madeByBoot(plan: Pick<BootPlan, 'made'>, remove: () => Promise<void>): void {
  plan.made.push(registerCleanup(remove))
}

/** The boot succeeded: what it made stays. */
export function keepMade(plan: Pick<BootPlan, 'made'>): void {
  for (const keep of plan.made.splice(0)) keep()
}

/**
 * Make the networks of `definitions` exist as recorded: an existing one must not be weaker (an
 * internal network stays internal); a missing one is created from its definition (with the recorded
 * subnet if it is free here; another one when it is taken and no address was pinned on it).
 */
export async function ensureNetworks(definitions: NetworkDefinition[], pinned: Set<string>, plan: Pick<BootPlan, 'relax' | 'relaxed' | 'report' | 'made' | 'held'>): Promise<void> {
  if (definitions.length === 0) return
  // One boot at a time looks for and makes networks (fork --count boots side by side): two that
  // both found a network missing would both make it, and engines before 25 allow two of one name.
  const turn = networksTurn.then(() => ensureNetworksNow(definitions, pinned, plan))
  networksTurn = turn.catch(() => {})
  return turn
}

let networksTurn: Promise<void> = Promise.resolve()

async function ensureNetworksNow(definitions: NetworkDefinition[], pinned: Set<string>, plan: Pick<BootPlan, 'relax' | 'relaxed' | 'report' | 'made' | 'held'>): Promise<void> {
  const { existing, missing } = await checkNetworks(definitions, plan, 'exists on this host but')
  const labels = Object.entries(ownLabels(plan.held)).flatMap(([key, value]) => ['--label', `${key}=${value}`])
  for (const network of definitions) {
    if (existing.has(network.name) || !missing.includes(network.name)) continue
    madeByBoot(plan, () => docker.removeNetworkQuietly(network.name))
    try {
      await docker.createNetwork([...networkCreateFlags(network, true), ...labels], network.name)
      plan.report(`created network ${network.name}${network.internal ? ' (internal)' : ''}`)
    } catch (error) {
      const taken = error instanceof ToolError && /overlap|pool|address/i.test(error.stderr)
      if (taken && network.subnets.length > 0 && !pinned.has(network.name)) {
        // The engine may have chosen that subnet: another one confines as well.
        await docker.createNetwork([...networkCreateFlags(network, false), ...labels], network.name)
        plan.report(`created network ${network.name}${network.internal ? ' (internal)' : ''} on another subnet (${network.subnets[0]!.subnet} is taken here)`)
        continue
      }
      const why = error instanceof ToolError ? error.message : String(error)
      relaxOrRefuse(plan, 'networks', `network ${network.name} cannot be created here as recorded (${why})`)
      // Relaxed: without its recorded options (a driver this engine lacks), but internal stays.
      await docker.createNetwork([...(network.internal ? ['--internal'] : []), ...labels], network.name)
    }
  }
}

/**
 * The networks of `definitions` that exist here, each refused (unless relaxed) where it confines
 * less than recorded; `said` goes between its name and what it lacks.
 */
export async function checkNetworks(definitions: NetworkDefinition[], plan: Pick<BootPlan, 'relax' | 'relaxed' | 'report' | 'held'>, said: string): Promise<{ existing: Set<string>; missing: string[] }> {
  const { found, missing } = await docker.inspectMany(
    'network',
    definitions.map((network) => network.name),
  )
  const existing = new Map(found.map((raw) => networkInspectSchema.parse(raw)).map((network) => [network.Name, network]))
  for (const network of definitions) {
    const present = existing.get(network.name)
    // A network of this host that was not made for a held bottle is not its to join (another
    // application's, a bridge to the host's LAN), unless allowed by name at import.
    const { held } = plan
    if (present && held && !isOwn(present.Labels, held) && !held.allowed.has(`network:${network.name}`)) {
      throw new OperationError(`network ${network.name} exists on this host and is not the bottle's own (no label ${LABELS.slug}=${held.owner}): a bottle from elsewhere joins it only when imported with --allow network:${network.name} (or --trust)`)
    }
    const shortfalls = present ? networkShortfalls(network, present) : []
    if (shortfalls.length > 0) relaxOrRefuse(plan, 'networks', `network ${network.name} ${said} ${shortfalls.join(', ')}`)
  }
  return { existing: new Set(existing.keys()), missing }
}

/**
 * Named volumes must still be here (a missing one would come back empty, in silence). Relaxed, the
 * empty one is made here, so that a boot refused later removes it again.
 */
export async function checkVolumes(run: DockerRun, plan: Pick<BootPlan, 'relax' | 'relaxed' | 'report' | 'made' | 'held'>): Promise<void> {
  const mounts = [...run.mounts, ...(run.compose?.sidecars ?? []).flatMap((sidecar) => sidecar.run?.mounts ?? [])]
  const names = [...new Set(mounts.filter((mount) => mount.type === 'volume').map((mount) => mount.source))]
  const { found, missing } = await docker.inspectMany('volume', names)
  const { held } = plan
  if (held) {
    // Another bottle's or application's volume is never mounted into a bottle from elsewhere.
    for (const volume of found as Array<{ Name: string; Labels?: Record<string, string> | null }>) {
      if (!isOwn(volume.Labels, held) && !held.allowed.has(`volume:${volume.Name}`)) {
        throw new OperationError(`volume ${volume.Name} exists on this host and is not the bottle's own (no label ${LABELS.slug}=${held.owner}): a bottle from elsewhere never mounts another's volume`)
      }
    }
  }
  // The agent's named volumes only: a compose project makes its own again.
  const needed = new Set(run.mounts.filter((mount) => mount.type === 'volume').map((mount) => mount.source))
  const gone = missing.filter((name) => needed.has(name))
  for (const name of gone) relaxOrRefuse(plan, 'volumes', `volume ${name} is gone from this host (its data would be lost)`)
  for (const name of gone) {
    madeByBoot(plan, () => docker.removeVolumeQuietly(name))
    await docker.createVolume(name, ownLabels(held))
  }
}

/** Modes that share another container's namespaces need that container (by name) on this host. */
async function checkSharedNamespaces(run: DockerRun, plan: BootPlan, skip: CreateInput['skip']): Promise<void> {
  const shared = [run.networkMode, run.pidMode, run.ipcMode].filter((mode) => mode.startsWith('container:')).map((mode) => mode.slice('container:'.length))
  const { missing } = await docker.inspectMany('container', [...new Set(shared)])
  if (missing.length === 0) return
  relaxOrRefuse(plan, 'network-mode', `container ${missing.join(', ')}, whose namespaces the bottle shared, is not on this host`)
  skip.networkMode = true
}

// The engine's words for a confining property it cannot reproduce, at create or start.
const REFUSALS: Array<{ key: RelaxKey; pattern: RegExp; what: (match: RegExpExecArray) => string }> = [
  // 20.10: "Unknown runtime specified runsc"; 29: "unknown or invalid runtime name: runsc".
  { key: 'runtime', pattern: /unknown runtime specified ([^\s:]+)|unknown or invalid runtime name: ([^\s:]+)|runtime "?([^\s"]+)"? (?:not found|is not)/i, what: (m) => `runtime ${m[1] ?? m[2] ?? m[3]} is not installed on this engine` },
  { key: 'binds', pattern: /bind source path does not exist: (\S+)/i, what: (m) => `bind-mounted host path ${m[1]} does not exist on this host` },
  { key: 'devices', pattern: /(?:custom device|device) "?(\/dev\/[^\s":]+)/i, what: (m) => `device ${m[1]} does not exist on this host` },
]

/** Create, check against the record, join the other networks, start. Returns when it runs. */
export async function createAndStart(plan: BootPlan): Promise<void> {
  const skip: CreateInput['skip'] = { binds: new Set(), devices: new Set() }
  await checkSharedNamespaces(plan.run, plan, skip)
  const profiles = await seccompProfileFiles(plan.run.securityOpt)
  try {
    await createChecked(plan, { ...plan.run, securityOpt: profiles.securityOpt }, skip)
  } finally {
    await profiles.remove()
  }
}

/**
 * The engine keeps a seccomp profile as its JSON (`seccomp={…}`), but `docker create` reads one from
 * a file: each goes into a file of its own for the create (the CLI compacts it back to the same text).
 */
async function seccompProfileFiles(securityOpt: string[]): Promise<{ securityOpt: string[]; remove: () => Promise<void> }> {
  const inline = (option: string) => option.startsWith('seccomp={')
  if (!securityOpt.some(inline)) return { securityOpt, remove: async () => {} }
  const work = await makeWorkDir('seccomp')
  const options = await Promise.all(
    securityOpt.map(async (option, i) => {
      if (!inline(option)) return option
      const file = join(work.path, `profile-${i}.json`)
      await writeFile(file, option.slice('seccomp='.length))
      return `seccomp=${file}`
    }),
  )
  return { securityOpt: options, remove: work.remove }
}

async function createChecked(plan: BootPlan, run: DockerRun, skip: CreateInput['skip']): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const { flags, command } = createArgs({ name: plan.name, labels: plan.labels, run, envFromHost: plan.envFromHost, image: plan.imageConfig, skip })
    // Whatever goes wrong before it runs, the half-made container goes.
    const forget = registerCleanup(() => docker.removeContainerQuietly(plan.name))
    try {
      await docker.createContainer(flags, plan.image, command)
      // While it is checked against the record: /tmp re-initialised and the other networks joined.
      const [inspected] = await Promise.all([
        docker.inspectContainer(plan.name),
        initTempDirs(plan.name, { readOnlyRootfs: plan.run.readOnlyRootfs, imageReady: plan.imageTempDirsReady }),
        ...plan.run.networks.slice(1).map((attachment) =>
          docker.connectNetwork(attachment.network, plan.name, [...attachment.aliases.flatMap((alias) => ['--alias', alias]), ...(attachment.ipv4Address ? ['--ip', attachment.ipv4Address] : []), ...(attachment.ipv6Address ? ['--ip6', attachment.ipv6Address] : [])]),
        ),
      ])
      const made = containerInspectSchema.parse(inspected)
      for (const weaker of weakerThanRecorded(plan.run, made, { runtimeRelaxed: skip.runtime })) relaxOrRefuse(plan, weaker.key, weaker.what)
      await docker.startContainer(plan.name)
      forget()
      return
    } catch (error) {
      await docker.removeContainerQuietly(plan.name)
      forget()
      const refusal = error instanceof ToolError && attempt < 10 ? classify(error) : undefined
      if (!refusal) throw error
      relaxOrRefuse(plan, refusal.key, refusal.what)
      if (refusal.key === 'runtime') skip.runtime = true
      if (refusal.key === 'binds') skip.binds!.add(refusal.subject)
      if (refusal.key === 'devices') skip.devices!.add(refusal.subject)
    }
  }
}

function classify(error: ToolError): { key: RelaxKey; what: string; subject: string } | undefined {
  for (const refusal of REFUSALS) {
    const match = refusal.pattern.exec(error.stderr)
    if (match) return { key: refusal.key, what: refusal.what(match), subject: (match[1] ?? match[2] ?? match[3] ?? '').replace(/:$/, '') }
  }
  return undefined
}

/**
 * Every boot makes /tmp and /var/tmp exist with mode 1777 (a snapshot may lack them), before the
 * container starts: unpacked into it, no exec needed. A read-only root filesystem is left as it is.
 */
export async function initTempDirs(container: string, { readOnlyRootfs = false, imageReady = false } = {}): Promise<void> {
  // A snapshot seen with both at 1777 when it was committed has them still (an image does not change).
  if (readOnlyRootfs || imageReady) return
  await docker.copyInto(container, '/', tempDirsArchive())
}
