// A compose bottle (bot-bottle's docker backend): the agent service plus sidecars (egress proxy,
// git gate, …) as the compose project bot-bottle-<slug>, its compose file in the state dir. It comes
// back as the whole project through `docker compose`, the agent service's image set to the
// snapshot by an override file; sidecars start from their images as compose does.
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as z from 'zod/mini'
import '../schema.ts'
import * as docker from '../docker.ts'
import { OperationError, ToolError } from '../errors.ts'
import { COMPOSE_LABELS } from '../names.ts'
import { relaxOrRefuse, type DockerRun } from '../run-config.ts'
import { stateDir, statePath, writeAtomic } from '../state.ts'
import { makeWorkDir } from '../workdir.ts'
import { checkNetworks, ensureNetworks, initTempDirs, type BootPlan } from './docker-boot.ts'
import { containerInspectSchema } from './docker-inspect.ts'
import { recordDockerRun, weakerThanRecorded } from './docker-run.ts'

type Compose = NonNullable<DockerRun['compose']>

/**
 * The other services of a running project: the images they run and how they run, read as the
 * agent's run is (issue 21: a sidecar that comes back weaker is refused like the agent). Their env
 * is not kept: the compose file carries it, and a sidecar's credentials are no business of a record
 * that travels.
 */
export async function sidecarsOf(project: string, agentService: string): Promise<Sidecar[]> {
  const rows = (await docker.listLabelled('container', `${COMPOSE_LABELS.project}=${project}`, [COMPOSE_LABELS.service])).filter((row) => row.labels[COMPOSE_LABELS.service] !== agentService)
  const { found } = await docker.inspectMany(
    'container',
    rows.map((row) => row.name),
  )
  const containers = found.map((raw) => containerInspectSchema.parse(raw))
  const images = await Promise.all(containers.map((container) => docker.inspectImage(container.Image)))
  return containers.map((container, i) => {
    const { compose: _project, platform: _platform, ...run } = recordDockerRun(container, { imageLabels: images[i]!.labels, secretNames: [], networks: [], containerNames: new Map() })
    return { service: container.Config.Labels?.[COMPOSE_LABELS.service] ?? '', image: rows.find((row) => `/${row.name}` === container.Name || row.name === container.Name)?.image ?? container.Image, run: { ...run, env: [], secretEnv: [] } }
  })
}

type Sidecar = Compose['sidecars'][number]

/**
 * The state dir keeps the compose file (bot-bottle writes it there). When it does not, commit copies
 * the project's own file there as written, so it travels with the bottle. Never `compose config`:
 * that writes out the values of `${VAR}` and the contents of `env_file:` (credentials among them),
 * which would then travel in the state dir, the snapshot's label and every bundle. Returns it.
 */
export async function keepComposeFile(slug: string, compose: Compose): Promise<string | undefined> {
  const kept = await readFile(statePath(slug, 'compose'), 'utf8').catch(() => undefined)
  if (kept !== undefined) return kept
  const file = ownComposeFile(compose.configFiles, statePath(slug, 'compose'))
  if (file === undefined || !existsSync(file)) return undefined
  const text = await readFile(file, 'utf8')
  await writeAtomic(statePath(slug, 'compose'), text)
  return text
}

/**
 * The one file the project ran from. The state dir keeps one compose file, and merging several
 * takes `compose config`, values and all: refused, with the way out.
 */
export function ownComposeFile(configFiles: string[], stateFile: string): string | undefined {
  if (configFiles.length <= 1) return configFiles[0]
  throw new OperationError(
    `the compose project ran from ${configFiles.length} files (${configFiles.join(', ')}), and bottle-tasks keeps one compose file, ` +
      `as written (merging them would store the values of their variables and env files): write the merged file yourself, without values, to ${stateFile}, then commit again`,
  )
}

const configSchema = z.looseObject({
  services: z.record(
    z.string(),
    z.looseObject({
      image: z.optional(z.string()),
      build: z.optional(z.unknown()),
      runtime: z.optional(z.string()),
      volumes: z.optional(z.array(z.looseObject({ type: z.string(), source: z.optional(z.string()), target: z.optional(z.string()) }))),
    }),
  ),
})

/** Bring the whole project up from the state dir's compose file, the agent from `plan.image`. */
export async function composeBoot(slug: string, compose: Compose, plan: BootPlan): Promise<void> {
  const file = statePath(slug, 'compose')
  if (!existsSync(file)) throw new ToolError('docker compose', 1, `${file} is missing: the compose bottle cannot come back without its compose file`)
  // Networks the project does not make itself (external: true) must exist first, as recorded.
  const external = plan.run.networkDefinitions.filter((network) => !network.composeManaged)
  await ensureNetworks(external, new Set(plan.run.networks.filter((n) => n.ipv4Address || n.ipv6Address).map((n) => n.network)), plan)

  const work = await makeWorkDir('compose')
  try {
    const projectDir = compose.workingDir && existsSync(compose.workingDir) ? compose.workingDir : stateDir(slug)
    const base = ['-p', compose.project, '--project-directory', projectDir, '-f', file]
    const config = configSchema.parse(JSON.parse((await docker.compose([...base, 'config', '--format', 'json'])).stdout))
    const services = Object.keys(config.services)
    if (!services.includes(compose.service)) throw new ToolError('docker compose', 1, `${file} has no service "${compose.service}" (the agent's)`)

    // Sidecars that can neither be found nor built here: say which.
    const needed = services.filter((service) => service !== compose.service && config.services[service]!.image && !config.services[service]!.build)
    const { missing } = await docker.inspectMany(
      'image',
      needed.map((service) => config.services[service]!.image!),
    )
    // A runtime (e.g. runsc) this engine lacks: refused, or (relaxed) those services alone get runc.
    const installed = new Set((await docker.engineInfo()).runtimes)
    const withoutRuntime = services.filter((service) => config.services[service]!.runtime && !installed.has(config.services[service]!.runtime!))
    for (const service of withoutRuntime) relaxOrRefuse(plan, 'runtime', `runtime ${config.services[service]!.runtime} of service ${service} is not installed on this engine`)
    // The engine would make a missing bind source as an empty directory, in silence.
    for (const service of services) {
      for (const bind of (config.services[service]!.volumes ?? []).filter((volume) => volume.type === 'bind' && volume.source && !existsSync(volume.source))) {
        relaxOrRefuse(plan, 'binds', `bind-mounted host path ${bind.source} of service ${service} does not exist on this host`)
      }
    }
    const absent = needed.filter((service) => missing.includes(config.services[service]!.image!))
    const up = services.filter((service) => !absent.includes(service))
    if (absent.length > 0) {
      relaxOrRefuse(plan, 'sidecars', `sidecar image(s) not on this host and not buildable: ${absent.map((service) => `${service} (${config.services[service]!.image})`).join(', ')}`)
    }

    const override = join(work.path, 'override.yml')
    await writeFile(override, await overrideYaml(compose.service, plan.image, Boolean(config.services[compose.service]!.build), withoutRuntime))
    const files = [...base, '-f', override]
    await docker.compose([...files, 'create', '--pull', 'never', ...up])
    try {
      const containers = await projectContainers(compose)
      const agent = containers.get(compose.service)
      if (!agent) throw new ToolError('docker compose create', 1, `no container for service ${compose.service} of ${compose.project}`)
      // The networks compose made (or found, by its labels) confine as recorded too.
      const own = plan.run.networkDefinitions.filter((network) => network.composeManaged)
      const [inspected, networks] = await Promise.all([docker.inspectMany('container', [...containers.values()]), checkNetworks(own, plan, 'of the project')])
      for (const name of networks.missing) relaxOrRefuse(plan, 'networks', `network ${name} of the project was not made`)
      const made = new Map(inspected.found.map((raw) => containerInspectSchema.parse(raw)).map((container) => [container.Config.Labels?.[COMPOSE_LABELS.service] ?? '', container]))
      for (const weaker of weakerThanRecorded(plan.run, made.get(compose.service)!, { runtimeRelaxed: withoutRuntime.includes(compose.service) })) relaxOrRefuse(plan, weaker.key, weaker.what)
      // Each sidecar as it ran: one the compose file no longer has is refused as a missing one is.
      for (const sidecar of compose.sidecars) {
        const container = made.get(sidecar.service)
        if (!container) {
          if (!absent.includes(sidecar.service)) relaxOrRefuse(plan, 'sidecars', `sidecar ${sidecar.service} ran with the bottle, and the compose file has no such service now`)
          continue
        }
        // A record from before sidecars' runs were kept (version 1) says only which ran.
        if (!sidecar.run) continue
        for (const weaker of weakerThanRecorded(sidecar.run, container, { runtimeRelaxed: withoutRuntime.includes(sidecar.service) })) relaxOrRefuse(plan, weaker.key, `${weaker.what} (sidecar ${sidecar.service})`)
      }
      await initTempDirs(agent, { readOnlyRootfs: plan.run.readOnlyRootfs, imageReady: plan.imageTempDirsReady })
      await docker.compose([...files, 'start', ...up])
    } catch (error) {
      await composeDown(compose.project)
      throw error
    }
  } finally {
    await work.remove()
  }
}

/** The agent service: its image is the snapshot (never pulled, never rebuilt). */
async function overrideYaml(service: string, image: string, hadBuild: boolean, defaultRuntime: string[]): Promise<string> {
  const { Document } = await import('yaml')
  const services: Record<string, Record<string, unknown>> = { [service]: { image, pull_policy: 'never', ...(hadBuild ? { build: null } : {}) } }
  for (const name of defaultRuntime) services[name] = { ...services[name], runtime: 'runc' }
  const doc = new Document({ services })
  // `!reset` drops the build section (compose ≥ 2.24), so compose cannot rebuild over the snapshot.
  if (hadBuild) (doc.getIn(['services', service, 'build'], true) as { tag?: string }).tag = '!reset'
  return doc.toString()
}

/** The project's containers by service. */
async function projectContainers(compose: Compose): Promise<Map<string, string>> {
  const rows = await docker.listLabelled('container', `${COMPOSE_LABELS.project}=${compose.project}`, [COMPOSE_LABELS.service])
  return new Map(rows.map((row) => [row.labels[COMPOSE_LABELS.service] ?? '', row.name]))
}

/** Take a project down: its containers and the networks it made (external ones and volumes stay). */
export async function composeDown(project: string): Promise<void> {
  await docker.compose(['-p', project, 'down', '--remove-orphans'])
}

/** The services of the bottle's compose file (state dir), or undefined when it has none. */
export async function composeFileServices(slug: string): Promise<Set<string> | undefined> {
  const text = await readFile(statePath(slug, 'compose'), 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  const { parse } = await import('yaml')
  try {
    const services = (parse(text) as { services?: Record<string, unknown> } | null)?.services
    return new Set(Object.keys(services ?? {}))
  } catch {
    return new Set()
  }
}
